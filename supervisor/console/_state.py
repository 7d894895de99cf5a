"""What one refresh of the console shows, as one JSON document (private; see supervisor.console).

Its cost does not grow with the number of browsers (each refresh is one request that keeps
nothing behind it) and grows with the number of live calls only as one pass over the registry:

* **calls**: at most :data:`CALLS_PER_PAGE` calls get their full view (task tree included), the
  oldest first (registration order: the ones most likely stuck), from ``offset``, of every
  tenant or of the one asked for;
* **by_tenant**: every tenant's count of calls, by state, and its tools running, from one pass;
* **cluster**: other replicas' calls, read from MongoDB at most once per
  :data:`CLUSTER_REFRESH_S` whatever the number of browsers polling, at most
  :data:`CALLS_PER_PAGE` of them listed;
* **decisions**: the ring's entries after the ``seq`` the browser already has.
"""

from __future__ import annotations

import time
from collections import Counter
from itertools import islice
from typing import Any

import trio

from actors.handle import CallHandle
from config.errors import InstructionsDBError
from config.health import Dependencies

from ..cluster import Coordination
from ..supervisor import Supervisor

#: Calls shown in full per refresh (the rest are counted in ``by_tenant``; ``offset`` pages).
CALLS_PER_PAGE = 50
#: How stale the other replicas' calls may be (one MongoDB read per period, for every browser).
CLUSTER_REFRESH_S = 2.0
#: The deepest task tree shown under a call.
TREE_DEPTH = 8


def task_tree(task: trio.lowlevel.Task, depth: int = 0) -> list[dict[str, Any]]:
    """The children of ``task``, read from trio's own task tree."""
    if depth > TREE_DEPTH:
        return []
    children = []
    for nursery in task.child_nurseries:
        for child in sorted(nursery.child_tasks, key=lambda t: t.name):
            children.append({"task": child.name, "children": task_tree(child, depth + 1)})
    return children


def describe_call(call: CallHandle, now: float) -> dict[str, Any]:
    """One call's view: its handle's fields and the tasks under it."""
    view = dict(call.snapshot(now))
    view["tasks"] = task_tree(call.task) if call.task is not None else []
    return view


class ClusterView:
    """The fleet's calls as MongoDB last said, read at most once per :data:`CLUSTER_REFRESH_S`."""

    def __init__(self, coordination: Coordination) -> None:
        self._coordination = coordination
        self._lock = trio.Lock()
        self._read_at = -float("inf")
        self._calls: list[dict[str, Any]] = []
        self._error: str | None = None

    async def view(self, replica_id: str) -> dict[str, Any]:
        async with self._lock:  # concurrent refreshes wait for one read, not one each
            if trio.current_time() - self._read_at >= CLUSTER_REFRESH_S:
                try:
                    self._calls = await self._coordination.registry.calls()
                    self._error = None
                except InstructionsDBError as err:
                    self._error = err.reason
                self._read_at = trio.current_time()
        others = [call for call in self._calls if call.get("replica_id") != replica_id]
        return {
            "total": len(others),
            "by_replica": dict(Counter(str(call.get("replica_id")) for call in others)),
            "calls": others[:CALLS_PER_PAGE],
            "error": self._error,
            "age_s": round(trio.current_time() - self._read_at, 3),
        }


def console_state(
    supervisor: Supervisor,
    *,
    dependencies: Dependencies | None,
    tenant: str | None = None,
    offset: int = 0,
    decisions_after: int = 0,
) -> dict[str, Any]:
    """Everything one refresh shows but the other replicas' calls (see the module docstring)."""
    now = trio.current_time()
    calls = supervisor.calls
    by_tenant: dict[str, dict[str, Any]] = {}
    for call in calls.values():
        tenant_id = call.tenant_id or "unknown"
        entry = by_tenant.get(tenant_id)
        if entry is None:
            entry = by_tenant[tenant_id] = {"tenant_id": tenant_id, "calls": 0, "states": Counter(), "tools_running": 0}
        entry["calls"] += 1
        entry["states"][call.state] += 1
        entry["tools_running"] += len(call.tools_running)
    chosen = calls.values() if tenant is None else (c for c in calls.values() if (c.tenant_id or "unknown") == tenant)
    page = [describe_call(call, now) for call in islice(chosen, offset, offset + CALLS_PER_PAGE)]
    matching = len(calls) if tenant is None else by_tenant.get(tenant, {}).get("calls", 0)
    capacity = supervisor.capacity
    used_by_tenant = dict(capacity.by_tenant)
    tenants = sorted(set(used_by_tenant) | set(by_tenant))
    ready = not supervisor.draining and (dependencies is None or dependencies.admits_calls())
    return {
        "replica_id": supervisor.settings.replica_id,
        "uptime_s": None if supervisor.started_at is None else round(now - supervisor.started_at, 3),
        "server_time": round(time.time(), 3),
        "draining": supervisor.draining,
        "capacity": {
            "used": capacity.in_use,
            "limit": capacity.limit,
            "tenants": [
                {"tenant_id": t, "used": used_by_tenant.get(t, 0), "limit": supervisor.tenant_limit(t)}
                for t in tenants
            ],
        },
        "calls": {
            "total": len(calls),
            "matching": matching,
            "tenant": tenant,
            "offset": offset,
            "per_page": CALLS_PER_PAGE,
            "items": page,
        },
        "by_tenant": [
            {**entry, "states": dict(entry["states"])} for _, entry in sorted(by_tenant.items())
        ],
        "cluster": None,
        "decisions": supervisor.recent.views(after=decisions_after),
        "decisions_seq": supervisor.recent.last_seq,
        "health": {
            "ready": ready,
            "draining": supervisor.draining,
            "dependencies": None if dependencies is None else dependencies.view(),
        },
    }
