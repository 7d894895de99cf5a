"""What the sideband sends, read as untrusted input: events, their fields, and how it closed.

Nothing from the sideband is used before its type is checked here or where it is read: a frame
is an event only if it is text holding a JSON object whose ``type`` is a string; a field is read
only as the type it must have; a value that ends up in a log line is cut to an excerpt first
(:func:`excerpt`: never ``str()`` of a container the far side built, which could be huge or
nested past the interpreter's recursion limit).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from typing import Any

from . import bounded_json
from .log import log_event

#: The largest sideband message read: a bigger one closes the sideband (1009) and ends the call
#: as ``sideband_message_too_large``.  trio-websocket counts a text message in characters (up
#: to 4 bytes each in memory).  Real events are kilobytes; this leaves room for a session
#: event that echoes a long prompt.
MAX_MESSAGE_BYTES = 8 * 2**20
#: Messages trio-websocket holds between its reader and us: none, so at most two are in memory
#: (the one being read and the one we parse), and a flood waits in the far side's TCP buffers.
MESSAGE_QUEUE_SIZE = 0

#: Close codes that end a call as the caller's hangup: normal, going away, a close frame without
#: a code (1005), and no close frame at all (1006, how a caller's hangup often looks).
HANGUP_CLOSE_CODES = frozenset({1000, 1001, 1005, 1006})
#: Close codes of a frame the websocket refused (either side): protocol error, unacceptable or
#: invalid data.  A close with no code at all is ours after refusing a frame (trio-websocket
#: records none then).
PROTOCOL_CLOSE_CODES = frozenset({1002, 1003, 1007})
#: Message too big (either side).
TOO_LARGE_CLOSE_CODE = 1009

#: ``realtime_error`` (``live_error``) lines logged per call; later error events are only counted
#: (``error_events`` in ``GET /actors``), so a flood of them cannot flood the log.
MAX_LOGGED_ERRORS = 20


#: How deeply a sideband event may nest (objects and arrays): OpenAI's events nest about ten
#: levels (a response's output items, their content parts); deeper is no event of theirs, and it
#: is refused before the JSON decoder recurses into it (actors/bounded_json.py says why).
MAX_EVENT_DEPTH = 64


def read_event(message: str | bytes) -> dict[str, Any] | None:
    """The event a sideband message holds, or None when it holds none.

    None for a binary frame (the Realtime API sends text), for text that is not JSON or nests
    past :data:`MAX_EVENT_DEPTH`, and for JSON that is not an object.
    """
    if not isinstance(message, str):
        return None
    try:
        event = bounded_json.loads(message, max_depth=MAX_EVENT_DEPTH)
    except ValueError:  # not JSON, or nested deeper than any event OpenAI sends (TooDeep)
        return None
    return event if isinstance(event, dict) else None


def excerpt(value: object, limit: int) -> str | int | float | bool | None:
    """``value`` fit for a log line: a string cut to ``limit`` characters, a scalar as it is.

    Anything else is its type's name in angle brackets (``<list>``), and so is a number JSON
    logs could not carry (an integer past 64 bits, NaN or an infinity).
    """
    if isinstance(value, str):
        return value[:limit]
    if value is None or isinstance(value, bool):
        return value
    if (isinstance(value, int) and value.bit_length() < 64) or (isinstance(value, float) and math.isfinite(value)):
        return value
    return f"<{type(value).__name__}>"


def end_reason_of_close(code: int | None) -> str:
    """The ``call_ended`` reason for a sideband that closed with ``code`` (None: no code)."""
    if code in HANGUP_CLOSE_CODES:
        return "caller_hangup"
    if code == TOO_LARGE_CLOSE_CODE:
        return "sideband_message_too_large"
    if code is None or code in PROTOCOL_CLOSE_CODES:
        return "sideband_protocol_error"
    return "sideband_error"


def log_sideband_error(log_as: str, event: dict[str, Any], counters: Counter[str]) -> None:
    """Count an ``error`` event; log it as ``log_as`` (``realtime_error``, ``live_error``), its
    fields excerpted, while under :data:`MAX_LOGGED_ERRORS`.

    Any shape is taken: ``error`` missing or not an object, each field missing or of any type.
    """
    counters["error_events"] += 1
    if counters["error_events"] > MAX_LOGGED_ERRORS:
        return
    error = event.get("error")
    error = error if isinstance(error, dict) else {}
    log_event(
        logging.WARNING,
        log_as,
        "the session reported an error",
        code=excerpt(error.get("code"), 80),
        error_type=excerpt(error.get("type"), 80),
        error_message=excerpt(error.get("message"), 300),
        param=excerpt(error.get("param"), 80),
        client_event_id=excerpt(error.get("event_id"), 80),
        last_logged=counters["error_events"] == MAX_LOGGED_ERRORS,
    )
