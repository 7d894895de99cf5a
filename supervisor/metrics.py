"""Prometheus metrics of one supervisor.

Each :class:`Metrics` owns its own ``CollectorRegistry`` instead of the process-wide default, so
that several supervisors (in tests, or in one process) count separately.  The operator app
serves :meth:`Metrics.render` at ``GET /metrics``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import trio
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from config.health import Dependencies

#: ``outcome`` label values of ``callvisor_calls_total``.
CALL_OUTCOMES = ("accepted", "rejected", "gone", "failed", "ended")

#: ``result`` label values of ``callvisor_webhooks_total``.
WEBHOOK_RESULTS = (
    "accepted",
    "rejected",
    "duplicate",
    "ignored",
    "invalid",
    "unauthorized",
    "retry",
    "gone",
)

#: Buckets of ``callvisor_intake_seconds``: intake is mostly milliseconds, a slow store seconds.
INTAKE_BUCKETS_S = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)

#: Buckets of ``callvisor_gc_pause_seconds``: a young collection takes milliseconds, a full one
#: over the heap of thousands of calls seconds.
GC_PAUSE_BUCKETS_S = (*INTAKE_BUCKETS_S, 10.0)

#: ``generation`` label values of ``callvisor_gc_pause_seconds`` (2 is a full collection).
GC_GENERATIONS = ("0", "1", "2")


def count_trio_tasks() -> int:
    """Tasks alive in the running trio program, the root task included (0 outside trio).

    Walks trio's task tree from the root (every task lives in a nursery of its parent), the
    same tree ``GET /actors`` reads; a few microseconds per task.
    """
    try:
        root = trio.lowlevel.current_root_task()
    except RuntimeError:
        return 0
    if root is None:
        return 0
    count = 0
    stack = [root]
    while stack:
        task = stack.pop()
        count += 1
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return count


class TrioTasks(Collector):
    """``callvisor_trio_tasks``, counted when the registry is rendered (at scrape time)."""

    NAME = "callvisor_trio_tasks"
    HELP = "Tasks alive in the process's trio program (calls, their readers and tool runs, servers, connections)."

    def describe(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily(self.NAME, self.HELP)]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(self.NAME, self.HELP, value=count_trio_tasks())


class Metrics:
    """The metrics of one supervisor, registered on a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.calls_active = Gauge(
            "callvisor_calls_active",
            "Calls whose actor is running, by tenant.",
            ["tenant_id"],
            registry=registry,
        )
        self.calls_total = Counter(
            "callvisor_calls_total",
            "Incoming calls by outcome (accepted, rejected, gone, failed, ended) and reason code.",
            ["outcome", "reason"],
            registry=registry,
        )
        self.webhooks_total = Counter(
            "callvisor_webhooks_total",
            "Webhook deliveries by the answer they got.",
            ["result"],
            registry=registry,
        )
        self.fallback_instructions_used = Counter(
            "fallback_instructions_used",
            "Calls accepted with the downtime greeting and prompt because the tenant store failed.",
            registry=registry,
        )
        self.intake_seconds = Histogram(
            "callvisor_intake_seconds",
            "Time from receiving a call's webhook to deciding it (accept, reject, gone).",
            buckets=INTAKE_BUCKETS_S,
            registry=registry,
        )
        self.decision_overhead_seconds = Histogram(
            "callvisor_decision_overhead_seconds",
            "Time from receiving a call's webhook to sending OpenAI the accept or reject "
            "(callvisor's own share of the intake; the REST round trip is not in it).",
            buckets=INTAKE_BUCKETS_S,
            registry=registry,
        )
        self.event_loop_lag_seconds = Histogram(
            "callvisor_event_loop_lag_seconds",
            "How late a 100 ms timer fires on the event loop (a busy loop answers late).",
            buckets=INTAKE_BUCKETS_S,
            registry=registry,
        )
        self.gc_pause_seconds = Histogram(
            "callvisor_gc_pause_seconds",
            "How long each run of Python's cyclic garbage collector stopped the process "
            "(event loop included), by the oldest generation it collected (2: a full collection).",
            ["generation"],
            buckets=GC_PAUSE_BUCKETS_S,
            registry=registry,
        )
        self.tool_runs_total = Counter(
            "callvisor_tool_runs_total",
            "Tool calls from the model by tool name and outcome.",
            ["tool", "outcome"],
            registry=registry,
        )
        self.tenant_capacity_limit = Gauge(
            "callvisor_tenant_capacity_limit",
            "A tenant's own limits.max_concurrent_calls, as its config said at its last call.",
            ["tenant_id"],
            registry=registry,
        )
        self.draining = Gauge(
            "callvisor_draining",
            "1 from the start of a drain until the process exits, else 0.",
            registry=registry,
        )
        self.capacity_in_use = Gauge(
            "callvisor_capacity_in_use",
            "Call slots taken.",
            ["scope"],
            registry=registry,
        )
        self.capacity_limit = Gauge(
            "callvisor_capacity_limit",
            "Call slots available in total.",
            ["scope"],
            registry=registry,
        )
        registry.register(TrioTasks())
        # Series that exist from the start read as 0 instead of missing.
        for result in WEBHOOK_RESULTS:
            self.webhooks_total.labels(result=result)
        self.capacity_in_use.labels(scope="global")
        self.capacity_limit.labels(scope="global")
        for generation in GC_GENERATIONS:
            self.gc_pause_seconds.labels(generation=generation)

    @contextmanager
    def timing_gc_pauses(self) -> Iterator[None]:
        """Observe every garbage collector run in ``callvisor_gc_pause_seconds`` until the block
        exits.

        The collector runs in whichever thread crosses its allocation thresholds and holds the
        GIL for the whole run, so a pause stops the event loop; ``gc.callbacks`` bracket each run.
        """
        by_generation = [self.gc_pause_seconds.labels(generation=g) for g in GC_GENERATIONS]
        started = time.perf_counter()

        def on_collection(phase: str, info: dict[str, Any]) -> None:
            nonlocal started
            if phase == "start":
                started = time.perf_counter()
            else:
                by_generation[info["generation"]].observe(time.perf_counter() - started)

        gc.callbacks.append(on_collection)
        try:
            yield
        finally:
            gc.callbacks.remove(on_collection)

    def watch_dependencies(self, dependencies: Dependencies) -> None:
        """Report ``dependencies`` at each scrape: ``callvisor_tenant_store_up``,
        ``callvisor_tenant_store_seconds_since_success`` (MongoDB only),
        ``callvisor_call_control_failures_total{action,kind}`` and
        ``callvisor_capacity_leases_lost_total``."""
        self.registry.register(_DependencyCollector(dependencies))

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _DependencyCollector(Collector):
    """Reads :class:`config.health.Dependencies` when scraped (nothing is kept twice)."""

    def __init__(self, dependencies: Dependencies) -> None:
        self._dependencies = dependencies

    def collect(self) -> Iterator[Metric]:
        store = self._dependencies.tenant_store
        up = GaugeMetricFamily(
            "callvisor_tenant_store_up",
            "1 while the tenant store answers (always, for a tenants file), 0 while its requests fail",
        )
        if store is None or store.state != "unknown":
            up.add_metric([], 0.0 if store is not None and store.state == "failing" else 1.0)
        yield up
        if store is not None:
            age = GaugeMetricFamily(
                "callvisor_tenant_store_seconds_since_success",
                "Seconds since a request to the MongoDB tenant store last succeeded",
            )
            if (seconds := store.seconds_since_success()) is not None:
                age.add_metric([], seconds)
            yield age
        failures = CounterMetricFamily(
            "callvisor_call_control_failures",
            "Call-control requests to OpenAI that failed, by action and kind (timeout, openai_4xx, "
            "openai_5xx, connection_error, tls_error); a 404 is an answer, not a failure",
            labels=["action", "kind"],
        )
        for (action, kind), count in sorted(self._dependencies.call_control.failures.items()):
            failures.add_metric([action, kind], float(count))
        yield failures
        lost = CounterMetricFamily(
            "callvisor_capacity_leases_lost",
            "Cluster mode: calls whose capacity lease expired unrenewed or was taken by another "
            "call (capacity_lease_lost); the fleet is above its limit until they end. Always 0 "
            "without cluster mode",
        )
        lost.add_metric([], float(self._dependencies.leases_lost()))
        yield lost
