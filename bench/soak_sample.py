"""The soak's samples: what the process holds, read from outside every few seconds.

One :func:`sample` reads the ``callvisor serve`` process from ``/proc`` (psutil: RSS, open
descriptors, CPU time), from its operator port (``GET /metrics``: ``callvisor_trio_tasks``,
``callvisor_capacity_in_use``, ``callvisor_calls_active``, and the full garbage collections so
far from ``callvisor_gc_pause_seconds``; ``GET /actors``: the live calls) and
from the simulated platform (sidebands open), plus the load's own counters.  :func:`connections`
sorts the process's TCP connections by what they are for, to say what an end-of-run descriptor
count is made of.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import psutil
import trio
from prometheus_client.parser import text_string_to_metric_families

from bench.platform import BenchPlatform
from bench.rawhttp import Connection, ConnectionLost, build_request
from bench.soak_load import Load

READ_TIMEOUT_S = 10.0

#: Sampled metrics, by sample name (labels summed over).
METRICS = {
    "callvisor_trio_tasks": "tasks",
    "callvisor_capacity_in_use": "slots",
    "callvisor_calls_active": "calls_active",
}


def _metrics(text: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "callvisor_gc_pause_seconds_count" and sample.labels.get("generation") == "2":
                found["gc_full"] = float(sample.value)
            key = METRICS.get(sample.name)
            if key is not None:
                found[key] = found.get(key, 0.0) + float(sample.value)
    return found


class AdminReader:
    """GETs on the operator port over one kept-alive connection (reopened when lost).

    One connection for the whole run, so that sampling adds no connection of its own to what is
    counted: a connection the client closes stays open on the server for up to hypercorn's
    keep-alive timeout (30 s), a descriptor and a task each.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self._conn: Connection | None = None
        self._lock = trio.Lock()

    async def get(self, path: str) -> bytes:
        async with self._lock:
            with trio.fail_after(READ_TIMEOUT_S):
                for attempt in (1, 2):
                    if self._conn is None:
                        self._conn = await Connection.open("127.0.0.1", self.port)
                    try:
                        answer = await self._conn.request(build_request("GET", path, f"127.0.0.1:{self.port}"))
                    except ConnectionLost:
                        await self._conn.aclose()
                        self._conn = None
                        if attempt == 2:
                            raise
                        continue
                    if answer.close:
                        await self._conn.aclose()
                        self._conn = None
                    if answer.status != 200:
                        raise RuntimeError(f"GET {path}: {answer.status}")
                    return answer.body
        raise AssertionError("unreachable")


async def sample(
    proc: psutil.Process, load: Load, platform: BenchPlatform, admin: AdminReader, started: float, phase: str
) -> dict[str, Any]:
    """One sample; a read that failed leaves its field out and says so under ``errors``."""
    out: dict[str, Any] = {"t": round(trio.current_time() - started, 2), "phase": phase}
    errors = []
    with proc.oneshot():
        memory = proc.memory_info()
        times = proc.cpu_times()
        out.update(rss=int(memory.rss), fds=proc.num_fds(), cpu_s=round(times.user + times.system, 2))
    try:
        out.update(_metrics((await admin.get("/metrics")).decode()))
    except (OSError, RuntimeError, trio.TooSlowError, ValueError, ConnectionLost) as exc:
        errors.append(f"metrics: {type(exc).__name__}: {exc}")
    try:
        tree = json.loads(await admin.get("/actors"))
        out["calls"] = len(tree["calls"])
        out["capacity_used"] = int(tree["capacity"]["used"])
    except (OSError, RuntimeError, trio.TooSlowError, ValueError, KeyError, ConnectionLost) as exc:
        errors.append(f"actors: {type(exc).__name__}: {exc}")
    out.update(
        sidebands=platform.open_sidebands(),
        in_flight=load.in_flight,
        placed=load.placed,
        ledger_webhook_ids=load.settled_webhook_ids,
        ledger_call_ids=load.settled_call_ids,
    )
    if errors:
        out["errors"] = errors
    return out


def connections(proc: psutil.Process, ports: dict[str, int]) -> dict[str, int]:
    """The process's TCP sockets by role (``ports``: role -> the port that marks it) and state."""
    by_port = {port: role for role, port in ports.items()}
    counted: dict[str, int] = {}
    for conn in proc.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN:
            role = "listening"
        elif conn.raddr and conn.raddr.port in by_port:
            role = f"to_{by_port[conn.raddr.port]}"
        elif conn.laddr and conn.laddr.port in by_port:
            role = f"from_clients_of_{by_port[conn.laddr.port]}"
        else:
            role = "other"
        key = f"{role}:{conn.status}"
        counted[key] = counted.get(key, 0) + 1
    return dict(sorted(counted.items()))


def lingering(conns: dict[str, int]) -> int:
    """Sockets of connections a client closed that the server has not closed yet."""
    return sum(n for key, n in conns.items() if key.startswith("from_clients_of_") and key.endswith(":CLOSE_WAIT"))


def port_of(url: str) -> int:
    port = urlsplit(url).port
    if port is None:
        raise ValueError(f"no port in {url!r}")
    return port
