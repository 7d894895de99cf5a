"""The supervisor: one nursery that owns every call actor, one-for-one.

``Supervisor.run`` is started beside the HTTP servers (never inside a request).  The webhook
handler calls :meth:`Supervisor.start_call`, which starts a call actor in the supervisor's nursery
with ``nursery.start`` and returns the actor's decision; the actor then lives on in the
supervisor's nursery, not the request's.

The supervisor is also each actor's :class:`~actors.call.Admission` (capacity slot + registry
entry, entered and left by the actor's own task) and its :class:`~actors.call.CallHooks`
(metrics).  A call's failure ends only that call: actors catch everything at their boundary.
"""

from __future__ import annotations

import logging
import math
import ssl
from contextlib import AbstractAsyncContextManager
from functools import partial
from types import TracebackType
from typing import Any, Protocol

import httpx2
import trio

from actors.call import CallEnv, IncomingCall, SessionRunner, run_call
from actors.control import CallControl
from actors.decision import Decision, Outcome
from actors.errors import CallRefused
from actors.handle import CallHandle
from actors.live_session import run_live_session
from actors.log import log_event
from config.settings import Settings
from config.source import TenantSource

from .capacity import Capacity, LocalCapacity
from .ledger import Claim, Ledger
from .metrics import Metrics
from .recent_decisions import RecentDecisions


class DecisionLedger(Protocol):
    """Remembers the outcome of each definitive decision by call_id (in memory, or in MongoDB in
    cluster mode).  Only the outcome: a redelivery needs nothing more, and an enum member is
    shared, so a remembered call costs its key alone."""

    def claim(self, key: str) -> AbstractAsyncContextManager[Claim[Outcome]]: ...


class Supervisor:
    """Owns the call actors of this process."""

    def __init__(
        self,
        *,
        settings: Settings,
        source: TenantSource,
        control: CallControl,
        metrics: Metrics,
        run_session: SessionRunner,
        tool_http: httpx2.AsyncClient,
        tls: ssl.SSLContext,
        capacity: Capacity | None = None,
        decisions: DecisionLedger | None = None,
        run_live_session: SessionRunner = run_live_session,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.capacity: Capacity = capacity or LocalCapacity(settings.max_concurrent_calls)
        self.calls: dict[str, CallHandle] = {}
        self.draining = False
        self.started_at: float | None = None
        self.decisions: DecisionLedger = decisions or Ledger()
        #: The last few hundred decisions, for the operator console (bounded ring).
        self.recent = RecentDecisions()
        self.env = CallEnv(
            settings=settings,
            source=source,
            control=control,
            admission=self,
            hooks=self,
            run_session=run_session,
            run_live_session=run_live_session,
            tool_http=tool_http,
            tls=tls,
        )
        self._nursery: trio.Nursery | None = None
        self._gauge_tenants: set[str] = set()
        #: Each tenant's own limit as its config said at its last call (callvisor_tenant_capacity_limit);
        #: one entry per tenant that called, as ``_gauge_tenants``.
        self._tenant_limits: dict[str, int | None] = {}
        self._limit_series: set[str] = set()
        self._idle = trio.Event()
        self._idle.set()
        metrics.capacity_limit.labels(scope="global").set(settings.max_concurrent_calls)

    # -- running -----------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled; call actors live in this task's nursery."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.started_at = trio.current_time()
            task_status.started(self)
            try:
                await trio.sleep_forever()
            finally:
                self._nursery = None

    async def start_call(self, incoming: IncomingCall) -> tuple[Decision, bool]:
        """Decide ``incoming`` in a new call actor; returns (decision, duplicate).

        A call_id that already has a definitive decision is never started twice: the earlier
        decision is returned with ``duplicate=True``.
        """
        if self._nursery is None:
            raise RuntimeError("the supervisor is not running")
        nursery = self._nursery
        async with self.decisions.claim(incoming.call_id) as claim:
            if claim.previous is not None:
                return Decision(outcome=claim.previous, call_id=incoming.call_id), True
            decision: Decision = await nursery.start(
                partial(run_call, incoming, self.env), name=f"call:{incoming.call_id}"
            )
            if decision.definitive:
                claim.settle(decision.outcome)
            return decision, False

    # -- drain -------------------------------------------------------------------------------

    def stop_admitting(self) -> None:
        """From now on every new call is rejected with reason ``draining`` (idempotent)."""
        if not self.draining:
            self.draining = True
            log_event(
                logging.WARNING, "drain_started", "draining: new calls are rejected",
                live_calls=len(self.calls),
            )

    async def drain(self, grace_s: float) -> None:
        """Stop admitting, let live calls finish for ``grace_s``, then end the rest."""
        self.stop_admitting()
        with trio.move_on_after(grace_s):
            await self._idle.wait()
        ended_by_drain = [call for call in list(self.calls.values()) if call.request_end("drain")]
        # Each actor's teardown is bounded; this bound only guards against a bug.
        with trio.move_on_after(self.settings.call_control_timeout_s * 2 + 5):
            await self._idle.wait()
        log_event(
            logging.WARNING, "drain_finished", "drain finished",
            ended_by_drain=len(ended_by_drain), live_calls=len(self.calls),
        )

    # -- Admission ---------------------------------------------------------------------------

    def slot(self, call: CallHandle, *, tenant_limit: int | None) -> AbstractAsyncContextManager[None]:
        """Hold ``call``'s capacity slot and registry entry until the block exits."""
        if call.tenant_id is not None:  # the tenant's own limit, as its config said last
            self._tenant_limits[call.tenant_id] = tenant_limit
        return _Slot(self, call, tenant_limit)

    def _register(self, call: CallHandle) -> None:
        self.calls[call.call_id] = call
        if self._idle.is_set():
            self._idle = trio.Event()

    def _unregister(self, call: CallHandle) -> None:
        del self.calls[call.call_id]
        if not self.calls:
            self._idle.set()

    # -- CallHooks ---------------------------------------------------------------------------

    def decided(self, decision: Decision, *, intake_s: float) -> None:
        self.metrics.calls_total.labels(
            outcome=decision.outcome.value, reason=decision.reason or ""
        ).inc()
        if math.isfinite(intake_s) and intake_s >= 0:
            self.metrics.intake_seconds.observe(intake_s)
        self.recent.record(decision, decision_s=intake_s)

    def ended(self, call: CallHandle, *, reason: str, duration_s: float) -> None:
        self.metrics.calls_total.labels(outcome="ended", reason=reason).inc()

    def fallback_used(self) -> None:
        self.metrics.fallback_instructions_used.inc()

    def control_sent(self, *, overhead_s: float) -> None:
        if math.isfinite(overhead_s) and overhead_s >= 0:
            self.metrics.decision_overhead_seconds.observe(overhead_s)

    def tool_run(self, tool: str, outcome: str) -> None:
        self.metrics.tool_runs_total.labels(tool=tool, outcome=outcome).inc()

    # -- observation -------------------------------------------------------------------------

    def refresh_gauges(self) -> None:
        """Set the gauges from the live state (called before each /metrics scrape)."""
        by_tenant = dict(self.capacity.by_tenant)
        # A tenant whose calls all ended reads 0 (its series does not vanish).
        self._gauge_tenants.update(by_tenant)
        for tenant_id in self._gauge_tenants:
            self.metrics.calls_active.labels(tenant_id=tenant_id).set(by_tenant.get(tenant_id, 0))
        for tenant_id, limit in list(self._tenant_limits.items()):
            if limit is None:  # the tenant has no limit of its own (any more)
                if tenant_id in self._limit_series:
                    self.metrics.tenant_capacity_limit.remove(tenant_id)
                    self._limit_series.discard(tenant_id)
            else:
                self.metrics.tenant_capacity_limit.labels(tenant_id=tenant_id).set(limit)
                self._limit_series.add(tenant_id)
        self.metrics.capacity_in_use.labels(scope="global").set(self.capacity.in_use)
        self.metrics.draining.set(1 if self.draining else 0)

    def tenant_limit(self, tenant_id: str) -> int | None:
        """The tenant's own limit as its config said at its last call (None: only the global one)."""
        return self._tenant_limits.get(tenant_id)

    def snapshot(self) -> dict[str, Any]:
        """The supervisor's own fields for ``GET /actors`` (the operator app adds the calls)."""
        now = trio.current_time()
        return {
            "replica_id": self.settings.replica_id,
            "uptime_s": None if self.started_at is None else round(now - self.started_at, 3),
            "draining": self.draining,
            "capacity": self.capacity.snapshot(),
        }


class _Slot:
    """A call's capacity slot and registry entry (:meth:`Supervisor.slot`).

    A class rather than an ``asynccontextmanager``: every live call holds one, and a generator
    would keep a suspended frame (and trio's finalizer bookkeeping) per call.
    """

    __slots__ = ("_call", "_hold", "_supervisor", "_tenant_limit")

    def __init__(self, supervisor: Supervisor, call: CallHandle, tenant_limit: int | None) -> None:
        self._supervisor = supervisor
        self._call = call
        self._tenant_limit = tenant_limit
        self._hold: AbstractAsyncContextManager[None] | None = None

    async def __aenter__(self) -> None:
        supervisor = self._supervisor
        if supervisor.draining:
            raise CallRefused("draining")
        hold = supervisor.capacity.hold(self._call, tenant_limit=self._tenant_limit)
        await hold.__aenter__()
        self._hold = hold
        supervisor._register(self._call)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        assert self._hold is not None
        self._supervisor._unregister(self._call)
        return await self._hold.__aexit__(exc_type, exc, tb)
