"""``log_event`` and the call context carried by contextvars (private; see actors.log).

Every event callvisor reports goes through :func:`log_event`: one stdlib ``logging`` record per
event, rendered as one JSON line by :class:`~actors.log.JsonFormatter`.  ``tenant_id`` and
``call_id`` come from the contextvars below, which the call actor sets in its own task (trio
copies the context into each new task, so a call's children inherit them and nothing leaks into
sibling calls).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from config.errors import ApplicationError

from ._events import EVENTS

LOGGER_NAME = "callvisor"
RECORD_ATTR = "callvisor_fields"

tenant_id_var: ContextVar[str | None] = ContextVar("tenant_id", default=None)
call_id_var: ContextVar[str | None] = ContextVar("call_id", default=None)

_logger = logging.getLogger(LOGGER_NAME)

#: Keys the formatter writes before ``event``; an extra with one of these names is renamed there.
_LEADING_KEYS = frozenset(("ts", "level", "logger", "msg"))


class EventFields(dict[str, Any]):
    """The :data:`RECORD_ATTR` of a :func:`log_event` record, already in line order.

    ``event``, ``tenant_id``, ``call_id``, the extras in call order, then ``error`` (when there
    is one), and no extra named like a key written before them: the formatter appends it to
    ``ts``/``level``/``logger``/``msg`` as it is.  Any other dict under :data:`RECORD_ATTR` is
    still accepted, and put in order by the formatter.
    """

    __slots__ = ()


def log_event(level: int, event: str, msg: str = "", /, **fields: Any) -> None:
    """Log one structured event.

    ``tenant_id`` and ``call_id`` default to the current context; pass them explicitly to
    override.  ``error=`` accepts an :class:`ApplicationError` (rendered with ``to_log_dict()``)
    or any other exception (rendered as its type and message).  Never pass secrets or raw
    webhook bodies.

    The record goes straight to the logger's handlers (``Logger.handle``): its source location
    is the caller's frame, read without walking the stack, and a disabled level costs one
    check.
    """
    logger = _logger
    if not logger.isEnabledFor(level):
        return
    record = EventFields(
        event=event,
        tenant_id=fields.pop("tenant_id", None) or tenant_id_var.get(),
        call_id=fields.pop("call_id", None) or call_id_var.get(),
    )
    error = fields.pop("error", None)
    if fields:
        record.update(fields)
    if event not in EVENTS:
        record["unregistered_event"] = True
    if error is not None:
        record["error"] = render_error(error)
    caller = sys._getframe(1)
    code = caller.f_code
    entry = logging.getLogRecordFactory()(
        logger.name, level, code.co_filename, caller.f_lineno, msg or event, None, None,
        code.co_name,
    )
    entry.__dict__[RECORD_ATTR] = (
        record if _LEADING_KEYS.isdisjoint(fields) else dict(record)
    )
    logger.handle(entry)


def render_error(error: BaseException | dict[str, Any]) -> dict[str, Any]:
    """The ``error`` field of a log line."""
    if isinstance(error, ApplicationError):
        return error.to_log_dict()
    if isinstance(error, BaseException):
        return {"error_type": type(error).__name__, "message": str(error)[:500]}
    return error


@contextmanager
def call_context(*, call_id: str | None = None, tenant_id: str | None = None) -> Iterator[None]:
    """Set the call/tenant ids for the current task until the block exits."""
    tokens = []
    if call_id is not None:
        tokens.append((call_id_var, call_id_var.set(call_id)))
    if tenant_id is not None:
        tokens.append((tenant_id_var, tenant_id_var.set(tenant_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
