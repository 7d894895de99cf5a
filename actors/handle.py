"""The observable state of one call actor, shared with the supervisor's registry.

The actor owns its :class:`CallHandle` and is the only writer of its fields; the operator port
reads them (``GET /actors``) and may ask the call to end (``request_end``), which cancels the
call's scope with a reason.  Nothing here blocks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import trio
from attrs import define, field


@define(kw_only=True)
class CallHandle:
    """One call as the operator sees it."""

    call_id: str
    received_at: float
    #: The surface the call's webhook came on, ``realtime`` or ``live`` (actors.runtime).
    runtime: str = "realtime"
    #: The SIP ``Call-ID`` (excerpted): what the two webhooks of one SIP call share.
    sip_call_id: str | None = None
    tenant_id: str | None = None
    state: str = "deciding"
    accepted_at: float | None = None
    deadline: float | None = None
    end_reason: str | None = None
    counters: Counter[str] = field(factory=Counter)
    tools_running: dict[str, str] = field(factory=dict)
    task: trio.lowlevel.Task | None = None
    _scope: trio.CancelScope | None = None

    def attach_scope(self, scope: trio.CancelScope) -> None:
        """Bind the scope that ``request_end`` cancels (the call's session scope)."""
        self._scope = scope
        if self.end_reason is not None:
            scope.cancel()

    def request_end(self, reason: str) -> bool:
        """Ask the call to end; the first reason wins.  Returns False if it was already ending."""
        if self.end_reason is not None:
            return False
        self.end_reason = reason
        if self._scope is not None:
            self._scope.cancel()
        return True

    def snapshot(self, now: float) -> Mapping[str, Any]:
        """A JSON-ready view for the operator port."""
        return {
            "call_id": self.call_id,
            "tenant_id": self.tenant_id,
            "runtime": self.runtime,
            "state": self.state,
            "age_s": round(now - self.received_at, 3),
            "deadline_in_s": None if self.deadline is None else round(self.deadline - now, 3),
            "end_reason": self.end_reason,
            "session": dict(self.counters),
            "tools_running": sorted(self.tools_running.values()),
        }
