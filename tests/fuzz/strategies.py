"""Hypothesis strategies for webhook bodies of every shape (envelopes: tests/fuzz/envelopes.py).

A drawn delivery is a template: it is rendered when an example runs (``Body.render``), so that
each run of an example gets a call_id of its own (hypothesis replays examples while it shrinks;
a replay must not be answered ``duplicate`` because the first run decided the same id).
"""

from __future__ import annotations

import json
from typing import Any

from attrs import frozen
from hypothesis import strategies as st

from .oracle import MAX_BODY_BYTES, NUMBERS, SPELLINGS

#: Where a body's fresh call_id goes (replaced at render time by ``rtc_<n>``).
CALL_ID_MARK = "@@call-id@@"
#: Characters that have broken parsers before: NUL, lone surrogates, separators, quotes, a BOM.
ODD = st.sampled_from(
    ["\x00", "\ud800", "\udfff", "\u2028", "\ufeff", "\U0001f4de", "\u00e9", "\\", '"', "\n", "\t", " ", "<", ">", "@", ";", ":", "%", "\x7f"]
)
CHARS = st.characters() | ODD


def weighted(common: st.SearchStrategy[Any], odd: st.SearchStrategy[Any], odd_share: float) -> st.SearchStrategy[Any]:
    """``common``, or ``odd`` about ``odd_share`` of the time; examples shrink towards ``common``."""
    cut = round(odd_share * 100)
    return st.integers(0, 99).flatmap(lambda roll: odd if roll >= 100 - cut else common)


def text(max_size: int = 24) -> st.SearchStrategy[str]:
    return st.text(CHARS, max_size=max_size)


def repeated(max_chars: int, min_chars: int = 1_000) -> st.SearchStrategy[str]:
    """A long string made of a short one repeated (hypothesis draws long strings slowly)."""
    return st.builds(
        lambda unit, size: (unit * (size // len(unit) + 1))[:size],
        st.text(CHARS, min_size=1, max_size=6),
        st.integers(min_chars, max_chars),
    )


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | text()
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text(8), children, max_size=4),
    max_leaves=8,
)
#: Anything but a string: what a field of the wrong type holds.
NOT_STRINGS = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.lists(SCALARS, max_size=3) | st.dictionaries(text(6), SCALARS, max_size=3)


def nested_text(depth: int, kind: str) -> str:
    """Raw JSON nesting ``depth`` levels of arrays, objects or both in turn."""
    if kind == "array":
        return "[" * depth + "1" + "]" * depth
    if kind == "object":
        return '{"k":' * depth + "1" + "}" * depth
    opens = "".join('{"k":' if level % 2 else "[" for level in range(depth))
    return opens + "1" + "".join("}" if level % 2 else "]" for level in reversed(range(depth)))


#: Depths around the limit (32), and the deep ones that once hurt (900, thousands).
DEPTHS = st.sampled_from([2, 8, 31, 32, 33, 34, 64, 500, 899, 900, 901, 990, 1000, 2000, 5000]) | st.integers(1, 1200)
DEEP = st.builds(nested_text, DEPTHS, st.sampled_from(["array", "object", "mixed"]))


# -- SIP headers ------------------------------------------------------------------------------

TO_NAMES = st.sampled_from(["To", "to", "TO", "t", "T", " To ", "To\t", "tO"])
OTHER_NAMES = st.sampled_from(["From", "f", "Call-ID", "Contact", "Via", "X-Tenant", "T\u043e", "Too", "", "To-Tag"]) | text(20)
ROUTABLE_TO = st.builds(
    lambda spelling, number: spelling.format(n=number, national=number[2:], digits=number[1:]),
    st.sampled_from(SPELLINGS),
    st.sampled_from(list(NUMBERS.values())),
)
#: To values that route nowhere: garbage, a number inside junk or past 1 KiB, other types.
ODD_TO = (
    text(60)
    | st.sampled_from(["", "sip:", "sip:@", "tel:", "<sip:+18005551212", "sip:+1800555121@x", "sip:alice@example.com", "tel:+1-800-FLOWERS", "mailto:+18005551212"])
    | st.builds(lambda junk, number: f"sip:{number}@{junk}", st.integers(1_100, 5_000).map(lambda n: "x" * n), st.sampled_from(list(NUMBERS.values())))
    | repeated(3_000)
    | NOT_STRINGS
)
TO_VALUES = weighted(ROUTABLE_TO, ODD_TO, 0.35)
SIP_ENTRY = st.one_of(
    st.fixed_dictionaries({"name": OTHER_NAMES, "value": TO_VALUES | text(40)}),
    st.fixed_dictionaries({"name": TO_NAMES, "value": TO_VALUES}),
    st.fixed_dictionaries({"name": NOT_STRINGS, "value": TO_VALUES}),
    st.fixed_dictionaries({}, optional={"name": TO_NAMES | OTHER_NAMES, "value": TO_VALUES, "extra": JSON_VALUES}),
    SCALARS,
)


@st.composite
def sip_header_lists(draw: st.DrawFn) -> list[Any]:
    """A few headers with one ``To`` among them (its value mostly routable), sometimes many more."""
    headers = draw(st.lists(SIP_ENTRY, max_size=4))
    to = {"name": draw(TO_NAMES), "value": draw(TO_VALUES)}
    headers.insert(draw(st.integers(0, len(headers))), to)
    if draw(weighted(st.just(False), st.just(True), 0.15)):
        headers += draw(st.lists(SIP_ENTRY, min_size=40, max_size=80))
    return headers


#: What ``data.sip_headers`` holds: mostly a list with a To, else any list, or no list at all.
SIP_HEADERS = weighted(sip_header_lists(), st.lists(SIP_ENTRY, max_size=8) | NOT_STRINGS | text(), 0.3)


# -- bodies -----------------------------------------------------------------------------------

CALL_IDS = weighted(
    st.just(CALL_ID_MARK) | st.from_regex(r"[A-Za-z0-9_.:\-]{0,60}", fullmatch=True).map(lambda suffix: CALL_ID_MARK + suffix),
    NOT_STRINGS | text() | st.sampled_from(["", "rtc 1", "rtc/1", "rtc_\u00e9", "rtc_1\n", "rtc_\x00", "a" * 129]),
    0.3,
)
TYPES = weighted(
    st.just("realtime.call.incoming"),
    st.sampled_from(["realtime.call.ended", "", "Realtime.Call.Incoming", "realtime.call.incoming "]) | text(30) | repeated(500, 101) | NOT_STRINGS,
    0.3,
)


@frozen
class Body:
    """A body to render: a JSON value (with raw JSON spliced in at markers), then maybe mangled."""

    value: Any
    raws: tuple[tuple[str, str], ...] = ()
    ensure_ascii: bool = True
    indent: int | None = None
    mangle: str = "none"  # none | truncate | nul | append
    cut: float = 0.5
    raw: bytes | None = None  # a body of raw bytes instead

    def render(self, call_id: str) -> bytes:
        if self.raw is not None:
            return self.raw
        encoded = json.dumps(self.value, ensure_ascii=self.ensure_ascii, indent=self.indent)
        for marker, raw in self.raws:
            encoded = encoded.replace(json.dumps(marker), raw)
        encoded = encoded.replace(CALL_ID_MARK, call_id)
        body = encoded.encode("utf-8", "surrogatepass")
        if self.mangle == "truncate":
            return body[: int(len(body) * self.cut)]
        if self.mangle == "nul":
            at = int(len(body) * self.cut)
            return body[:at] + b"\x00" + body[at:]
        if self.mangle == "append":
            return body + b"\x00 trailing"
        return body


def rarely(share: float) -> st.SearchStrategy[bool]:
    """True about ``share`` of the time (False is what examples shrink to)."""
    return weighted(st.just(False), st.just(True), share)


@st.composite
def events(draw: st.DrawFn, *, odd_fields: bool = True) -> tuple[Any, tuple[tuple[str, str], ...]]:
    """A ``realtime.call.incoming``-like event, each field right, wrong, missing or odd."""
    raws: list[tuple[str, str]] = []

    def odd_value() -> Any:
        if draw(rarely(0.3)):
            marker = f"@@raw-{len(raws)}@@"
            raws.append((marker, draw(DEEP)))
            return marker
        if draw(rarely(0.2)):
            return draw(repeated(60_000))
        return draw(JSON_VALUES)

    data: dict[str, Any] = {}
    if not draw(rarely(0.05)):
        data["call_id"] = draw(CALL_IDS)
    if not draw(rarely(0.05)):
        data["sip_headers"] = draw(SIP_HEADERS)
    if draw(st.booleans()):
        data["sip_media_security"] = draw(st.sampled_from(["srtp", "none"]) | SCALARS)
    if odd_fields and draw(rarely(0.25)):
        data[draw(text(10))] = odd_value()
    event: dict[str, Any] = {"object": "event", "id": draw(text(30))}
    if not draw(rarely(0.05)):
        event["type"] = draw(TYPES)
    event["created_at"] = draw(st.integers(0, 2**40) | SCALARS)
    event["data"] = data if not draw(rarely(0.07)) else draw(NOT_STRINGS | text())
    if odd_fields and draw(rarely(0.25)):
        event[draw(text(10))] = odd_value()
    return event, tuple(raws)


@st.composite
def bodies(draw: st.DrawFn) -> Body:
    """Bodies of every shape: events right and wrong, truncated, with NULs, deep, huge, not JSON."""
    shape = draw(weighted(st.just("event"), st.sampled_from(["truncate", "nul", "append", "top", "deep", "raw", "huge"]), 0.4))
    if shape == "raw":
        return Body(None, raw=draw(st.binary(max_size=300) | st.sampled_from([b"", b"{", b"\x00", b"\xff\xfe{}", b"\xef\xbb\xbf{}", b"[]" * 3000])))
    if shape == "top":  # valid JSON that is no object
        return Body(draw(st.lists(JSON_VALUES, max_size=3) | SCALARS))
    if shape == "deep":
        return Body("@@raw-top@@", (("@@raw-top@@", draw(DEEP)),))
    if shape == "huge":  # around the 256 KiB limit
        size = draw(st.integers(MAX_BODY_BYTES - 2_000, MAX_BODY_BYTES + 2_000))
        event, raws = draw(events(odd_fields=False))
        pad = max(size - len(json.dumps(event)), 0)
        return Body({**event, "pad": "p" * pad} if isinstance(event, dict) else event, raws)
    event, raws = draw(events())
    mangle = shape if shape in ("truncate", "nul", "append") else "none"
    return Body(
        event,
        raws,
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.none() | st.just(2)),
        mangle=mangle,
        cut=draw(st.floats(0.0, 0.999)),
    )


@st.composite
def call_bodies(draw: st.DrawFn) -> Body:
    """Call-shaped events: a usable call_id, and SIP headers of every kind."""
    event, _raws = draw(events(odd_fields=False))
    data = event.setdefault("data", {}) if isinstance(event.get("data"), dict) else {}
    event["data"] = data
    event["type"] = "realtime.call.incoming"
    data["call_id"] = CALL_ID_MARK + draw(st.from_regex(r"[A-Za-z0-9_.:\-]{0,20}", fullmatch=True))
    data["sip_headers"] = draw(SIP_HEADERS)
    return Body(event, ensure_ascii=draw(st.booleans()))
