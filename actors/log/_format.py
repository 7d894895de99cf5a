"""The JSON line of one log record (private; see actors.log).

A line looks like this (keys always in this order; ``error`` only when there is one)::

    {"ts":"2026-03-02T14:30:45.123Z","level":"ERROR","logger":"callvisor","msg":"...",
     "event":"tenant_not_configured","tenant_id":"acme-corp","call_id":"rtc_1",
     "reason":"...", "error":{"error_type":"TenantNotConfiguredError",...}}

Records made by :func:`log_event` carry their fields in the record attribute
:data:`RECORD_ATTR`.  Records from any other logger (libraries) get ``event: null``, the ids of
the current call context, and ``exc_type``/``exc`` when they carry a traceback.

Rendering never raises: a value JSON cannot hold is written as its ``str()``.  As a second line
of defence (the first is never passing secrets to ``log_event``) every configured secret that
still shows up in a line is replaced by ``[redacted]``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable
from typing import Any

from ._record import RECORD_ATTR, EventFields, call_id_var, tenant_id_var

REDACTED = "[redacted]"

#: Secrets shorter than this are not scrubbed: they would match ordinary text.
MIN_SECRET_LEN = 8

_BASE_KEYS = ("ts", "level", "logger", "msg", "event", "tenant_id", "call_id")
_RESERVED = frozenset((*_BASE_KEYS, "error"))
_MAX_DEPTH = 20


class JsonFormatter(logging.Formatter):
    """Format a record as one compact JSON object (no newline inside, non-ASCII kept as is)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        kept = {secret for secret in secrets if secret and len(secret) >= MIN_SECRET_LEN}
        needles: set[str] = set()
        for secret in kept:
            needles.add(secret)
            # The form the secret takes inside a JSON string, if quoting changes it.
            needles.add(json.dumps(secret, ensure_ascii=False)[1:-1])
        # Longest first, so that a secret containing another one is replaced whole.
        self._needles = sorted(needles, key=lambda s: (-len(s), s))

    def format(self, record: logging.LogRecord) -> str:
        line = _dumps(self.to_dict(record))
        for needle in self._needles:
            line = line.replace(needle, REDACTED)
        return line

    def to_dict(self, record: logging.LogRecord) -> dict[str, Any]:
        """The line as a dict, in output order, before it is serialised and scrubbed."""
        line: dict[str, Any] = {
            "ts": format_ts(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": _message(record),
        }
        fields = record.__dict__.get(RECORD_ATTR)
        if type(fields) is EventFields and not record.exc_info and not record.stack_info:
            # log_event put them in line order already, nothing to rename.
            line.update(fields)
            return line
        if isinstance(fields, dict):
            extras = dict(fields)
            line["event"] = extras.pop("event", None)
            line["tenant_id"] = extras.pop("tenant_id", None)
            line["call_id"] = extras.pop("call_id", None)
        else:
            extras = {}
            line["event"] = None
            line["tenant_id"] = tenant_id_var.get()
            line["call_id"] = call_id_var.get()
        error = extras.pop("error", None)
        for key, value in extras.items():
            # A field named like a base key must not overwrite it.
            line[f"{key}_" if key in _RESERVED else str(key)] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = record.exc_info[0].__name__
            line["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = record.stack_info
        if error is not None:
            line["error"] = error
        return line


def format_ts(created: float) -> str:
    """UTC ISO-8601 with milliseconds and ``Z``: ``2026-03-02T14:30:45.123Z``."""
    global _last_second
    whole = int(created)
    millis = int((created - whole) * 1000)
    second, text = _last_second
    if whole != second:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
        # Lines come many to a second: the date and time are formatted once per second.
        # (Before 1970 int() and gmtime() round apart, so those are never kept.)
        if created >= 0:
            _last_second = (whole, text)
    return f"{text}.{millis:03d}Z"


#: The second :func:`format_ts` formatted last, and its text.
_last_second: tuple[int, str] = (-1, "")


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a bad %-format in someone else's log call must not lose the line
        return f"{record.msg!s} {record.args!r}"


def _dumps(line: dict[str, Any]) -> str:
    try:
        return _ENCODER.encode(line)
    except (TypeError, ValueError, RecursionError):
        # Keys that are not strings, NaN, cycles: rebuild with plain types and try again.
        return json.dumps(_plain(line, 0), ensure_ascii=False, separators=(",", ":"))


def _to_str(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


#: What ``json.dumps(line, ...)`` would build for every line, built once.
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_to_str
)


def _plain(value: object, depth: int) -> object:
    """A copy of ``value`` made only of types JSON can hold."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= _MAX_DEPTH:
        return _to_str(value)
    if isinstance(value, dict):
        return {_to_str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, depth + 1) for v in value]
    return _to_str(value)
