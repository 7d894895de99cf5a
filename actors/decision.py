"""What the call actor tells the waiting webhook handler: the decision on one incoming call.

A decision is *definitive* when OpenAI has been told (accepted, rejected), the call no longer
exists (gone) or the webhook is not the tenant's runtime's (ignored).  Only definitive decisions are remembered for deduplication; a failed decision
(OpenAI could not be reached) is answered with HTTP 503 so that OpenAI redelivers, and the
redelivery is processed as if it were the first.

The call actor reports its decision once, through a :class:`Reporter`: it builds the
:class:`Decision` from the call's handle, tells the :class:`DecisionHooks` (metrics, the
console's recent decisions) and hands it to the webhook handler waiting on ``task_status``.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Protocol

import trio
from attrs import frozen

from .handle import CallHandle

#: SIP status sent with ``reject`` for each rejection reason.  Kept in one place and rendered
#: into docs/troubleshooting.md.
SIP_STATUS_BY_REASON: dict[str, int] = {
    "tenant_resolution_failed": 404,  # Not Found: nobody answers this number here
    "tenant_not_configured": 480,  # Temporarily Unavailable: the tenant exists but is not ready
    "instructions_missing": 480,
    "tenant_config_parse_error": 480,
    "capacity": 486,  # Busy Here: the caller may try again later
    "draining": 503,  # Service Unavailable: this replica is shutting down
    "capacity_unavailable": 503,  # cluster mode: the shared capacity store cannot be reached
}


class Outcome(Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    GONE = "gone"
    FAILED = "failed"
    #: The webhook of the runtime the tenant does not use: acknowledged, never accepted
    #: (``reason`` ``tenant_runtime_<the tenant's runtime>``).
    IGNORED = "ignored"


@frozen(kw_only=True, weakref_slot=False)  # remembered per decided call: no weakref slot
class Decision:
    """The outcome of deciding one call, as reported to the webhook handler."""

    outcome: Outcome
    call_id: str
    reason: str | None = None
    tenant_id: str | None = None
    sip_status: int | None = None
    #: Why, finer than ``reason`` (the webhook answer's): a rejection's log reason, such as
    #: ``tenant_capacity`` or ``global_capacity`` for ``capacity``.  For operators only.
    cause: str | None = None

    @property
    def definitive(self) -> bool:
        """True when a redelivery must not decide again."""
        return self.outcome is not Outcome.FAILED

    def http_status(self) -> int:
        return 503 if self.outcome is Outcome.FAILED else 200

    def http_body(self) -> dict[str, Any]:
        if self.outcome is Outcome.ACCEPTED:
            return {"ok": True, "accepted": self.call_id}
        if self.outcome is Outcome.REJECTED:
            return {"ok": True, "rejected": self.reason}
        if self.outcome is Outcome.GONE:
            return {"ok": True, "gone": self.call_id}
        if self.outcome is Outcome.IGNORED:  # the intake names the webhook's type in "ignored"
            return {"ok": True, "ignored": True, "reason": self.reason}
        return {"ok": False, "error": self.reason, "retry": True}


class DecisionHooks(Protocol):
    """Who hears of each decision (the supervisor's metrics and recent decisions)."""

    def decided(self, decision: Decision, *, intake_s: float) -> None: ...


class Reporter:
    """Reports the decision exactly once."""

    __slots__ = ("_call", "_hooks", "_task_status", "decision")

    def __init__(
        self, task_status: trio.TaskStatus[Decision], hooks: DecisionHooks, call: CallHandle
    ) -> None:
        self._task_status: trio.TaskStatus[Decision] | None = task_status
        self._hooks = hooks
        self._call = call
        self.decision: Decision | None = None

    def report(
        self, outcome: Outcome, *, reason: str | None = None, sip_status: int | None = None, cause: str | None = None
    ) -> None:
        """Report the call's decision (its call_id and tenant_id come from the handle)."""
        task_status = self._task_status
        if task_status is None:
            raise RuntimeError(f"decision already reported: {self.decision}")
        decision = Decision(
            outcome=outcome,
            call_id=self._call.call_id,
            tenant_id=self._call.tenant_id,
            reason=reason,
            sip_status=sip_status,
            cause=cause,
        )
        self.decision = decision
        self._task_status = None
        self._hooks.decided(decision, intake_s=trio.current_time() - self._call.received_at)
        task_status.started(decision)
