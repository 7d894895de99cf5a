"""The whole process: supervisor, public and operator HTTP servers, signals, drain.

::

    Service.serve
     ├─ Supervisor.run                 call actors (one-for-one)
     ├─ signal watcher                 SIGTERM/SIGINT → drain
     ├─ loop-lag                       callvisor_event_loop_lag_seconds
     ├─ gc-young                       young garbage collections (``callvisor serve`` only)
     ├─ cluster-hangups                cluster mode: hangups other replicas asked for
     └─ servers nursery
          ├─ hypercorn public app      POST /webhooks/openai, GET /health
          ├─ hypercorn operator app    console (GET /), /actors, /metrics, /ready, hangup, drain
          └─ lifecycle                 drain → stop the servers → stop the supervisor

Stopping: a signal or ``POST /drain`` starts a drain (new calls are rejected with SIP 503, live
calls get ``CALLVISOR_DRAIN_GRACE_S`` to finish, the rest are hung up); then both servers shut
down gracefully and ``serve_callvisor`` returns.

Garbage collection (``callvisor serve``): every collector run stops the event loop for as long as
it takes, and that grows with what it scans.  With thousands of calls, CPython's own triggers
make young collections rare and large (tens of thousands of objects: the await chains of tasks
that woke and went back to waiting replace older ones, so allocations minus deallocations, what
the trigger counts, barely moves) and run a full collection, seconds over such a heap, each time
the survivors have grown by a quarter.  So the service freezes what start-up allocated (never
scanned again), collects the young generations itself every :data:`GC_YOUNG_PERIOD_S`, and lets
a full collection run at most once per :data:`GC_FULL_EVERY` young ones.  Pauses are counted in
``callvisor_gc_pause_seconds``.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import resource
import signal
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from functools import partial

import httpx2
import trio
from attrs import frozen
from hypercorn.trio import serve as hypercorn_serve

from actors.control import CallControl
from actors.log import log_event
from actors.realtime_session import run_session
from actors.tls import client_tls_context
from actors.tools import tool_http_client
from config.errors import InstructionsDBError
from config.health import Dependencies
from config.mongo_source import MongoTenantSource
from config.mongo_store import MongoStore, open_mongo_store
from config.settings import Settings
from config.source import TenantSource
from config.tenants_file import FileTenantSource

from .admin_app import create_admin_app
from .cluster import Coordination, cluster_coordination, ensure_cluster_indexes
from .http_server import hypercorn_config, install, raise_open_file_limit
from .intake import WebhookIntake
from .metrics import Metrics
from .public_app import create_public_app
from .supervisor import Supervisor
from .tenants_reload import ReloadableTenants, ReloadResult

#: Period of the tenant store's ping: a quiet replica still knows within this time that MongoDB
#: went away (GET /ready, callvisor_tenant_store_up).
STORE_PROBE_PERIOD_S = 10.0

#: Period of the event-loop lag probe.
LOOP_LAG_PERIOD_S = 0.1

#: Period of the young collections ``callvisor serve`` runs itself: each scans what the calls
#: allocated and kept since the last one (a few milliseconds' worth at 10,000 calls).
GC_YOUNG_PERIOD_S = 0.5

#: Young collections between two full ones at least (generation 2's threshold): with one every
#: GC_YOUNG_PERIOD_S, and the few the collector starts itself, a full collection comes about
#: every five minutes at most.  In the benchmark's steady state a full collection found a few
#: dozen garbage objects, and it takes seconds at 10,000 calls.
GC_FULL_EVERY = 600


@frozen(kw_only=True)
class ServiceInfo:
    public_url: str
    admin_url: str
    service: Service


class Service:
    """The parts of one callvisor process, wired together."""

    def __init__(
        self,
        settings: Settings,
        source: TenantSource,
        *,
        control: CallControl,
        tool_http: httpx2.AsyncClient,
        tls: ssl.SSLContext,
        coordination: Coordination | None = None,
    ) -> None:
        self.settings = settings
        #: The one client TLS context of the process (actors.tls), shared by every call.
        self.tls = tls
        self.metrics = Metrics()
        self.coordination = coordination
        #: The tenants file, re-read on SIGHUP and POST /tenants/reload (None with MongoDB).
        self.tenants: ReloadableTenants | None = None
        if isinstance(source, FileTenantSource) and settings.tenants_file is not None:
            source = self.tenants = ReloadableTenants(
                source, settings.tenants_file, default_region=settings.default_region
            )
        #: The MongoDB store (tenants, or cluster mode's coordination), probed while serving.
        self.store: MongoStore | None = (
            coordination.store if coordination is not None
            else source.store if isinstance(source, MongoTenantSource) else None
        )
        self.dependencies = Dependencies(
            call_control=control.health,
            tenant_store=self.store.health if self.store is not None else None,
            store_decides_admission=coordination is not None,
            leases_lost=(lambda: coordination.capacity.leases_lost) if coordination is not None else (lambda: 0),
        )
        self.metrics.watch_dependencies(self.dependencies)
        self.supervisor = Supervisor(
            settings=settings,
            source=source,
            control=control,
            metrics=self.metrics,
            run_session=run_session,
            tool_http=tool_http,
            tls=tls,
            capacity=coordination.capacity if coordination else None,
            decisions=coordination.decisions if coordination else None,
        )
        self.intake = WebhookIntake(
            settings=settings,
            supervisor=self.supervisor,
            metrics=self.metrics,
            deliveries=coordination.deliveries if coordination else None,
        )
        self.public_app = create_public_app(self.intake, self.supervisor)
        self.admin_app = create_admin_app(
            self.supervisor,
            admin_token=settings.admin_token,
            request_drain=self.request_stop,
            cluster=coordination,
            dependencies=self.dependencies,
            reload_tenants=self.reload_tenants,
        )
        self._stop = trio.Event()

    def request_stop(self) -> None:
        """Start a drain followed by shutdown (idempotent; returns at once)."""
        if not self._stop.is_set():
            self.supervisor.stop_admitting()
            self._stop.set()

    async def _lifecycle(self, stop_servers: trio.Event) -> None:
        await self._stop.wait()
        await self.supervisor.drain(self.settings.drain_grace_s)
        stop_servers.set()

    async def reload_tenants(self, trigger: str) -> ReloadResult | None:
        """Re-read the tenants file (None when the tenants come from MongoDB)."""
        return None if self.tenants is None else await self.tenants.reload(trigger=trigger)

    async def _watch_signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            async for signum in signals:
                name = signal.Signals(signum).name
                if signum == signal.SIGHUP:
                    log_event(logging.WARNING, "signal_received", "signal received; reloading tenants", signal=name)
                    await self.reload_tenants("SIGHUP")  # bounded: RELOAD_TIMEOUT_S
                    continue
                log_event(logging.WARNING, "signal_received", "signal received; draining", signal=name)
                self.request_stop()

    async def _collect_young(self) -> None:
        """Collect generations 0 and 1 every ``GC_YOUNG_PERIOD_S``, so that each pause stays short."""
        while True:
            await trio.sleep(GC_YOUNG_PERIOD_S)
            gc.collect(1)

    async def _watch_loop_lag(self) -> None:
        """Record how late a 100 ms timer fires: the event loop's responsiveness."""
        while True:
            started = trio.current_time()
            await trio.sleep(LOOP_LAG_PERIOD_S)
            lag = trio.current_time() - started - LOOP_LAG_PERIOD_S
            self.metrics.event_loop_lag_seconds.observe(max(lag, 0.0))

    async def serve(
        self,
        *,
        handle_signals: bool = True,
        watch_loop_lag: bool = True,
        tune_gc: bool = False,
        task_status: trio.TaskStatus[ServiceInfo] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until drained (see the module docstring).

        ``tune_gc`` changes the garbage collector of the whole process once the servers are up
        and puts it back on return (see the module docstring): for ``callvisor serve``, not for
        a service that shares its process.
        """
        settings = self.settings
        install()
        with self.metrics.timing_gc_pauses(), ExitStack() as process_gc:
            async with trio.open_nursery() as outer:
                await outer.start(self.supervisor.run)
                if handle_signals:
                    outer.start_soon(self._watch_signals, name="signal-watcher")
                if watch_loop_lag:
                    outer.start_soon(self._watch_loop_lag, name="loop-lag")
                if self.coordination is not None:
                    outer.start_soon(self.coordination.hangups.watch, name="cluster-hangups")
                if self.store is not None:
                    outer.start_soon(_probe_store_forever, self.store, name="store-probe")
                stop_servers = trio.Event()
                async with trio.open_nursery() as servers:
                    public = await servers.start(
                        partial(
                            hypercorn_serve,
                            self.public_app,
                            hypercorn_config(settings.http_bind),
                            shutdown_trigger=stop_servers.wait,
                        )
                    )
                    admin = await servers.start(
                        partial(
                            hypercorn_serve,
                            self.admin_app,
                            hypercorn_config(settings.admin_bind),
                            shutdown_trigger=stop_servers.wait,
                        )
                    )
                    servers.start_soon(self._lifecycle, stop_servers, name="lifecycle")
                    if tune_gc:
                        process_gc.enter_context(_tuned_gc())
                        outer.start_soon(self._collect_young, name="gc-young")
                    log_event(
                        logging.INFO, "service_started", "callvisor is serving",
                        public=public[0], admin=admin[0], replica_id=settings.replica_id,
                        max_concurrent_calls=settings.max_concurrent_calls,
                        fd_limit=resource.getrlimit(resource.RLIMIT_NOFILE)[0],
                    )
                    task_status.started(ServiceInfo(public_url=public[0], admin_url=admin[0], service=self))
                # Both servers have shut down (bounded by their graceful_timeout) after the drain.
                outer.cancel_scope.cancel()
        log_event(logging.INFO, "service_stopped", "callvisor stopped")


async def _probe_store_forever(store: MongoStore) -> None:
    """Ping the store every STORE_PROBE_PERIOD_S, so that its health is known between calls."""
    while True:
        with contextlib.suppress(InstructionsDBError):  # recorded in store.health by run()
            await store.ping()
        await trio.sleep(STORE_PROBE_PERIOD_S)


@contextmanager
def _tuned_gc() -> Iterator[None]:
    """Freeze the objects alive now and raise generation 2's threshold until the block exits."""
    thresholds = gc.get_threshold()
    gc.collect()  # what is garbage now is not frozen
    gc.freeze()
    gc.set_threshold(thresholds[0], thresholds[1], GC_FULL_EVERY)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@asynccontextmanager
async def open_service(
    settings: Settings,
    source: TenantSource,
    *,
    tool_transport: httpx2.AsyncBaseTransport | None = None,
    coordination: Coordination | None = None,
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[Service]:
    """Build a Service with its HTTP clients, closing them on exit.

    ``tls`` is the process's client TLS context, built from ``settings`` here when not given
    (``callvisor serve`` builds it before it starts, to report a bad trust store as a setting);
    call control, the sideband and the http tools all use it.  ``tool_transport`` replaces the
    network under the http tools' client (the demo answers for the example tenant's tool
    endpoint with an ``httpx2.MockTransport``).
    """
    tls = tls or client_tls_context(settings)
    control = CallControl.create(
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        timeout_s=settings.call_control_timeout_s,
        ssl_context=tls,
    )
    try:
        async with tool_http_client(tls, tool_transport) as tool_http:
            yield Service(
                settings, source, control=control, tool_http=tool_http, tls=tls,
                coordination=coordination,
            )
    finally:
        with trio.move_on_after(2.0, shield=True):
            await control.aclose()


async def run_service(
    settings: Settings, file_source: TenantSource | None, tls: ssl.SSLContext | None = None
) -> None:
    """``callvisor serve``: run until a signal (or POST /drain) and the drain that follows.

    Tenants come from ``file_source`` when a tenants file is configured, else from MongoDB
    (``MONGODB_URI``).  With ``CALLVISOR_CLUSTER=mongodb`` capacity, dedup and the call
    registry live in MongoDB too.  The service starts even when MongoDB is down: calls then
    get the fallback prompts (or, in cluster mode, are refused).
    """
    raise_open_file_limit(settings.max_concurrent_calls)
    async with AsyncExitStack() as stack:
        store: MongoStore | None = None
        if settings.mongodb_uri is not None:
            store = await stack.enter_async_context(
                open_mongo_store(
                    settings.mongodb_uri,
                    database=settings.mongodb_database,
                    timeout_ms=settings.mongodb_timeout_ms,
                )
            )
        source = file_source
        if source is None:
            assert store is not None, "Settings require a tenants file or MONGODB_URI"
            source = MongoTenantSource(store)
        coordination = None
        if settings.cluster == "mongodb":
            assert store is not None, "Settings require MONGODB_URI in cluster mode"
            coordination = cluster_coordination(
                store,
                replica_id=settings.replica_id,
                limit=settings.max_concurrent_calls,
                lease_ttl_s=settings.lease_ttl_s,
            )
            try:
                await ensure_cluster_indexes(store)
            except InstructionsDBError as err:
                log_event(
                    logging.ERROR, "cluster_store_unavailable",
                    "cluster indexes not created at start-up; new calls are refused until MongoDB answers",
                    error=err,
                )
        service = await stack.enter_async_context(
            open_service(settings, source, coordination=coordination, tls=tls)
        )
        await service.serve(tune_gc=True)
