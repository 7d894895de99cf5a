"""The ``log_event`` helper and the call context carried by contextvars.

Every event callvisor reports goes through :func:`log_event`: one stdlib ``logging`` record per
event, rendered as one JSON line by :class:`supervisor.logs.JsonFormatter`.  ``tenant_id`` and
``call_id`` come from the contextvars below, which the call actor sets in its own task (trio
copies the context into each new task, so a call's children inherit them and nothing leaks into
sibling calls).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from config.errors import ApplicationError

from .events import EVENTS

LOGGER_NAME = "callvisor"
RECORD_ATTR = "callvisor_fields"

tenant_id_var: ContextVar[str | None] = ContextVar("tenant_id", default=None)
call_id_var: ContextVar[str | None] = ContextVar("call_id", default=None)

_logger = logging.getLogger(LOGGER_NAME)


def log_event(level: int, event: str, msg: str = "", /, **fields: Any) -> None:
    """Log one structured event.

    ``tenant_id`` and ``call_id`` default to the current context; pass them explicitly to
    override.  ``error=`` accepts an :class:`ApplicationError` (rendered with ``to_log_dict()``)
    or any other exception (rendered as its type and message).  Never pass secrets or raw
    webhook bodies.
    """
    if not _logger.isEnabledFor(level):
        return
    record: dict[str, Any] = {
        "event": event,
        "tenant_id": fields.pop("tenant_id", None) or tenant_id_var.get(),
        "call_id": fields.pop("call_id", None) or call_id_var.get(),
    }
    error = fields.pop("error", None)
    record.update(fields)
    if error is not None:
        record["error"] = render_error(error)
    if event not in EVENTS:
        record["unregistered_event"] = True
    _logger.log(level, msg or event, extra={RECORD_ATTR: record})


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
