"""actors/bounded_json.py: the nesting is measured right without recursion, and bounds the decoder."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.bounded_json import TooDeep, loads, nests_deeper


def depth_by_walking(text: str) -> int:
    """The reference: one character at a time, strings skipped, never below zero."""
    depth = deepest = 0
    index = 0
    while index < len(text):
        char = text[index]
        if char == '"':
            index += 1
            while index < len(text) and text[index] != '"':
                index += 2 if text[index] == "\\" else 1
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(depth - 1, 0)
        index += 1
    return deepest


@settings(max_examples=2000, derandomize=True, database=None, deadline=None)
@given(text=st.text(alphabet='[]{}"\\a,é', max_size=80), limit=st.integers(0, 8))
def test_nests_deeper_agrees_with_a_walk_over_any_text(text: str, limit: int) -> None:
    """Brackets, quotes, escapes and junk in any order: the answer is the walk's, JSON or not."""
    assert nests_deeper(text, limit) == (depth_by_walking(text) > limit)


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [1, {"b": {}}]}', 4),
        ('"[[[["', 0),
        (r'["\"[", "]]]"]', 1),
        (r'["\\"', 1),  # an escaped backslash, then the closing quote
        ('{"a": "[[[', 1),  # an unterminated string runs to the end
        ("]]][[", 2),  # too many closers drop the depth to zero, not below
        ("[[[", 3),  # openers never closed count
    ],
)
def test_depth_counts_objects_and_arrays_outside_strings(text: str, depth: int) -> None:
    """The depth of a few texts: not deeper than itself, deeper than one less."""
    assert not nests_deeper(text, depth)
    if depth:
        assert nests_deeper(text, depth - 1)


def test_loads_refuses_past_the_limit_and_decodes_as_json_does() -> None:
    """At the limit it is json.loads (bytes in UTF-8 or UTF-16 too); one more is TooDeep, a ValueError."""
    at_limit = "[" * 32 + "]" * 32
    assert loads(at_limit, max_depth=32) == json.loads(at_limit)
    assert loads('{"a": ["é"]}'.encode("utf-16"), max_depth=2) == {"a": ["é"]}
    with pytest.raises(TooDeep, match="deeper than 32 levels"):
        loads(b"[" + at_limit.encode() + b"]", max_depth=32)
    assert issubclass(TooDeep, ValueError)
    with pytest.raises(ValueError, match="Expecting"):
        loads("[1,", max_depth=32)
