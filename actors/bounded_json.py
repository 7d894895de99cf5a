"""JSON from an untrusted sender, decoded only once its nesting is known to be shallow.

``json.loads`` recurses once per nested object or array, on the caller's stack, and stops with
``RecursionError`` only when the interpreter's whole recursion budget is spent.  Catching that
error is not enough: while the decoder sits near the limit, anything else that runs on the same
stack (a garbage collection started by one of the decoder's allocations, running a finalizer; a
weakref callback) finds no room left, fails, and can only report to ``sys.unraisablehook``.  A
webhook body nested ~900 levels did exactly that (issue 11).

So :func:`loads` measures the nesting first, on the text itself and without recursion
(:func:`nests_deeper`), and refuses a text nested deeper than the caller allows before the
decoder ever sees it.  The scan skips string literals (escapes included), so brackets inside
strings do not count, and runs in C whatever the text holds (at most ``max_depth + 1`` passes
over its brackets).  Depth counts objects and arrays: ``{}`` and ``[]`` are depth 1,
``{"a": [1]}`` is depth 2, a scalar 0.

Used for the webhook body (``supervisor/intake.py``), the model's tool arguments and an http
tool's answer (``actors/tools.py``).
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["TooDeep", "loads", "nests_deeper"]

# A string literal, to its closing quote or to the end of an unterminated one (possessive, so
# the scan never backtracks and stays linear); and anything that is neither a string nor a bracket.
_STRINGS = re.compile(r'"(?:[^"\\]++|\\.?)*+(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS = re.compile(r'[^\[\]{}]++')


class TooDeep(ValueError):
    """The text nests objects and arrays deeper than allowed; it was not decoded.

    A ``ValueError``, as ``json.JSONDecodeError`` is: a caller that refuses bad JSON with
    ``except ValueError`` refuses this too.
    """

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"JSON nested deeper than {max_depth} levels")
        self.max_depth = max_depth


def nests_deeper(text: str, max_depth: int) -> bool:
    """Whether ``text`` nests objects and arrays deeper than ``max_depth``, strings not counted.

    The depth at a point of the text is the openers before it less the closers (never below
    zero); the answer is whether it ever passes ``max_depth``, which bounds how deep a decoder
    recurses before it returns or fails, JSON or not.

    Every step runs in C, whatever the text: strings and everything but brackets are cut
    out, then each round removes every innermost ``[]`` (a tree of depth d is gone after d
    rounds), at most ``max_depth`` rounds.  A pair still left after them sits deeper.
    """
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text))
    brackets = brackets.replace("{", "[").replace("}", "]")  # only the depth matters here
    left = _strip_pairs(brackets, max_depth)
    if "[]" in left:
        return True
    # What is left is unmatched: closers first (each drops the depth to zero), then the openers
    # never closed.  Those are the depth at the end of the text; if they do not pass the limit,
    # close them and look again, since pairs inside them sat deeper than the rounds counted.
    unclosed = len(left) - len(left.rstrip("["))
    if unclosed > max_depth:
        return True
    return bool(unclosed) and "[]" in _strip_pairs(brackets + "]" * unclosed, max_depth)


def _strip_pairs(brackets: str, rounds: int) -> str:
    for _ in range(rounds):
        shorter = brackets.replace("[]", "")
        if len(shorter) == len(brackets):
            break
        brackets = shorter
    return brackets


def loads(data: str | bytes | bytearray, *, max_depth: int) -> Any:
    """``json.loads(data)``, or :class:`TooDeep` when ``data`` nests deeper than ``max_depth``.

    Bytes are decoded as ``json.loads`` decodes them (UTF-8, or the UTF-16/32 it detects), so
    every text it accepted within the limit is accepted the same.  Raises ``ValueError`` (a
    ``json.JSONDecodeError``, ``UnicodeDecodeError`` or :class:`TooDeep`) for anything else.
    """
    text = data if isinstance(data, str) else data.decode(json.detect_encoding(data), "surrogatepass")
    if nests_deeper(text, max_depth):
        raise TooDeep(max_depth)
    return json.loads(text)
