"""The last few hundred call decisions, in memory, for the operator console.

:meth:`Supervisor.decided <supervisor.supervisor.Supervisor.decided>` records every decision
reported by a call actor (accepted, rejected with its reason, gone, failed, ignored) here, beside
the ``callvisor_calls_total`` counter.  The ring holds at most :data:`RECENT_DECISIONS` entries: the
oldest falls out as a new one comes, so a burst of calls costs a fixed amount of memory.  Each
entry keeps only short fields (the call_id is at most 128 characters, as the intake allows, and
the reason is one of ours), never a SIP header or anything else the caller sent.

Times: ``at`` is wall-clock (for people, shown as a time of day); ``decision_ms`` is measured on
trio's clock, from the webhook's arrival to the decision (the accept or reject round trip with
OpenAI included).
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any

from attrs import frozen

from actors.decision import Decision

#: Decisions the ring keeps.
RECENT_DECISIONS = 300


@frozen(kw_only=True)
class RecentDecision:
    """One decision as the console lists it."""

    #: 1 for the process's first decision, then one more for each: a browser asks for the
    #: entries after the last it has, so that each refresh carries only the new ones.
    seq: int
    at: float
    call_id: str
    tenant_id: str | None
    outcome: str
    reason: str | None
    #: A rejection's log reason when it says more than ``reason`` (``tenant_capacity``).
    cause: str | None
    sip_status: int | None
    decision_ms: float | None

    def view(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": round(self.at, 3),
            "call_id": self.call_id,
            "tenant_id": self.tenant_id,
            "outcome": self.outcome,
            "reason": self.reason,
            "cause": self.cause,
            "sip_status": self.sip_status,
            "decision_ms": self.decision_ms,
        }


class RecentDecisions:
    """A ring of the last ``size`` decisions, newest last."""

    def __init__(self, size: int = RECENT_DECISIONS) -> None:
        self._ring: deque[RecentDecision] = deque(maxlen=size)
        self._seq = 0

    def record(self, decision: Decision, *, decision_s: float | None) -> None:
        usable = decision_s is not None and math.isfinite(decision_s) and decision_s >= 0
        ms = round(decision_s * 1000, 1) if usable and decision_s is not None else None
        self._seq += 1
        self._ring.append(
            RecentDecision(
                seq=self._seq,
                at=time.time(),
                call_id=decision.call_id[:128],
                tenant_id=decision.tenant_id,
                outcome=decision.outcome.value,
                reason=decision.reason,
                cause=decision.cause if decision.cause != decision.reason else None,
                sip_status=decision.sip_status,
                decision_ms=ms,
            )
        )

    @property
    def last_seq(self) -> int:
        """The sequence number of the newest decision (0 before the first)."""
        return self._seq

    def __len__(self) -> int:
        return len(self._ring)

    def views(self, *, after: int = 0) -> list[dict[str, Any]]:
        """The decisions after sequence number ``after`` still in the ring, newest first."""
        views = []
        for entry in reversed(self._ring):
            if entry.seq <= after:
                break
            views.append(entry.view())
        return views
