"""Logging for callvisor, in the lowest layer that logs: the events, the record, the line.

* :data:`EVENTS` (``_events``) is the one registry of the events callvisor reports; it renders
  ``docs/troubleshooting.md`` and a test fails when either drifts.
* :func:`log_event` (``_record``) makes one stdlib ``logging`` record per event, with
  ``tenant_id`` and ``call_id`` from contextvars (:func:`call_context`) that a call actor sets in
  its own task, so a call's children inherit them and nothing leaks into sibling calls.
* :class:`JsonFormatter` (``_format``) renders any record as one JSON line in the troubleshooting
  guide's shape, never raising, secrets scrubbed as a second line of defence.

Installing the formatter on the process's stderr is the process's business
(:func:`supervisor.logs.configure_logging`).  The private modules never import this face.
"""

from __future__ import annotations

from ._event import Event as Event
from ._events import EVENTS as EVENTS
from ._format import MIN_SECRET_LEN as MIN_SECRET_LEN
from ._format import REDACTED as REDACTED
from ._format import JsonFormatter as JsonFormatter
from ._format import format_ts as format_ts
from ._record import LOGGER_NAME as LOGGER_NAME
from ._record import RECORD_ATTR as RECORD_ATTR
from ._record import EventFields as EventFields
from ._record import call_context as call_context
from ._record import call_id_var as call_id_var
from ._record import log_event as log_event
from ._record import render_error as render_error
from ._record import tenant_id_var as tenant_id_var

__all__ = [
    "EVENTS",
    "LOGGER_NAME",
    "MIN_SECRET_LEN",
    "RECORD_ATTR",
    "REDACTED",
    "Event",
    "EventFields",
    "JsonFormatter",
    "call_context",
    "call_id_var",
    "format_ts",
    "log_event",
    "render_error",
    "tenant_id_var",
]
