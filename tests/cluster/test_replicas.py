"""Three replicas on one MongoDB (mongomock) share capacity, dedup and the call registry.

No MongoDB server can run on these machines, so the replicas share one mongomock database in
one process, every access serialized (``max_threads=1``: mongomock is not thread-safe).  Lease
times run on the test's virtual clock.  Threads are involved, hence ``mock_clock``.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import attrs
import httpx
import mongomock
import pymongo
import pytest
import trio
import trio.testing

from config.mongo_store import MongoStore
from supervisor.cluster import SLOTS, cluster_coordination, ensure_cluster_indexes
from supervisor.service import ServiceInfo
from supervisor.testing import (
    Driver,
    LogTap,
    SimulatedPlatform,
    WebhookSigner,
    incoming_call_event,
    new_secret,
    open_callvisor,
    open_driver,
    open_platform,
    place_call,
    settings_for,
)

LEASE_TTL_S = 30.0
WAIT_S = 60.0


@attrs.define
class Cluster:
    platform: SimulatedPlatform
    signer: WebhookSigner
    replicas: list[Driver]
    store: MongoStore
    http: httpx.AsyncClient
    logs: LogTap

    async def call(self, replica: int, call_id: str, **kwargs: Any) -> httpx.Response:
        """Deliver ``call_id``'s webhook to one replica (the shared driver, bounded by WAIT_S)."""
        with trio.fail_after(WAIT_S):
            return await self.replicas[replica].call(call_id, **kwargs)

    async def wait_no_leases(self) -> None:
        """Until every lease is released (releases follow the call_ended line)."""
        while await self.leases_held():  # noqa: ASYNC110 - polling the database is the point
            await trio.sleep(0.05)

    async def leases_held(self) -> int:
        now = trio.current_time()
        return await self.store.run(
            "count",
            lambda db: db[SLOTS].count_documents(
                {"_id": {"$regex": "^global:"}, "holder": {"$ne": None}, "expires": {"$gt": now}}
            ),
        )


@asynccontextmanager
async def open_cluster(
    *, replicas: int = 3, limit: int = 3, store: MongoStore | None = None
) -> AsyncIterator[Cluster]:
    signer = WebhookSigner(new_secret())
    store = store or MongoStore(mongomock.MongoClient(), max_threads=1)
    logs = LogTap()
    with logs.installed():
        async with open_platform() as platform, AsyncExitStack() as stack:
            if isinstance(store.client, mongomock.MongoClient):
                await ensure_cluster_indexes(store)
            http = await stack.enter_async_context(httpx.AsyncClient(timeout=None))
            drivers = []
            for n in range(replicas):
                settings = settings_for(
                    platform, signer,
                    env={"MAX_CONCURRENT_CALLS": str(limit), "CALLVISOR_REPLICA_ID": f"replica-{n}"},
                )
                coordination = cluster_coordination(
                    store, replica_id=f"replica-{n}", limit=limit,
                    lease_ttl_s=LEASE_TTL_S, now=trio.current_time,
                )
                drivers.append(
                    await stack.enter_async_context(
                        open_driver(settings, platform, signer, logs, http=http, coordination=coordination)
                    )
                )
            yield Cluster(platform, signer, drivers, store, http, logs)


async def test_burst_across_replicas_admits_exactly_the_global_limit(mock_clock: trio.testing.MockClock) -> None:
    """9 simultaneous calls spread over 3 replicas with a global limit of 3: exactly 3 accepted.

    (9 stays below acme-corp's own limit of 10, so every refusal is the global one.)
    """
    async with open_cluster(limit=3) as cluster:
        answers: dict[str, dict[str, object]] = {}

        async def place(n: int) -> None:
            response = await cluster.call(n % 3, f"rtc_burst_{n}")
            answers[f"rtc_burst_{n}"] = response.json()

        async with trio.open_nursery() as nursery:
            for n in range(9):
                nursery.start_soon(place, n)
        accepted = [c for c, a in answers.items() if a.get("accepted")]
        rejected = [c for c, a in answers.items() if a.get("rejected") == "capacity"]
        assert len(accepted) == 3
        assert len(rejected) == 6
        accept_requests = [r for r in cluster.platform.requests if r.action == "accept"]
        assert sorted(r.call_id for r in accept_requests) == sorted(accepted)
        refused = [line.get("reason") for line in cluster.logs.events("call_rejected")]
        assert set(refused) == {"global_capacity"}
        assert await cluster.leases_held() == 3

        for call_id in accepted:
            await cluster.platform.call(call_id).wait_connected()
            await cluster.platform.call(call_id).caller_hangup()
        with trio.fail_after(WAIT_S):
            for call_id in accepted:
                await cluster.logs.wait_for("call_ended", call_id=call_id)
            await cluster.wait_no_leases()
        assert all(not replica.supervisor.calls for replica in cluster.replicas)


async def test_crashed_replicas_slots_come_free_after_the_lease_ttl(mock_clock: trio.testing.MockClock) -> None:
    """Leases held by a replica that stopped renewing block new calls until the TTL runs out."""
    async with open_cluster(replicas=2, limit=2) as cluster:
        # What a replica that died mid-call leaves behind: two fresh leases nobody will renew.
        expires = trio.current_time() + LEASE_TTL_S
        await cluster.store.run(
            "seed",
            lambda db: db[SLOTS].insert_many(
                [
                    {"_id": f"global:{k}", "holder": f"rtc_dead_{k}", "replica_id": "replica-dead",
                     "tenant_id": "acme-corp", "expires": expires}
                    for k in range(2)
                ]
            ),
        )
        refused = await cluster.call(0, "rtc_while_dead")
        assert refused.json() == {"ok": True, "rejected": "capacity"}
        await trio.sleep(LEASE_TTL_S + 1)
        admitted = await cluster.call(1, "rtc_after_ttl")
        assert admitted.json() == {"ok": True, "accepted": "rtc_after_ttl"}
        await cluster.platform.call("rtc_after_ttl").wait_connected()
        await cluster.platform.call("rtc_after_ttl").caller_hangup()
        with trio.fail_after(WAIT_S):
            await cluster.logs.wait_for("call_ended", call_id="rtc_after_ttl")


async def test_a_cancelled_replica_without_cleanup_frees_its_slots_after_the_ttl(
    mock_clock: trio.testing.MockClock,
) -> None:
    """A replica cut off from MongoDB and then cancelled cannot release; the TTL frees its slot."""
    store = MongoStore(mongomock.MongoClient(), max_threads=1)
    async with open_cluster(replicas=1, limit=1, store=store) as survivor:
        platform = survivor.platform
        signer = survivor.signer
        settings = settings_for(platform, signer, env={"MAX_CONCURRENT_CALLS": "1"})
        doomed_store = MongoStore(store.client, max_threads=1)
        coordination = cluster_coordination(
            doomed_store, replica_id="replica-doomed", limit=1, lease_ttl_s=LEASE_TTL_S,
            now=trio.current_time,
        )
        async with trio.open_nursery() as nursery:

            async def doomed_replica(task_status: trio.TaskStatus[ServiceInfo]) -> None:
                async with open_callvisor(settings, coordination=coordination) as info:
                    task_status.started(info)
                    await trio.sleep_forever()

            info = await nursery.start(doomed_replica)
            event = incoming_call_event("rtc_doomed")
            response = await place_call(info.public_url, signer, event, platform=platform, client=survivor.http)
            assert response.json() == {"ok": True, "accepted": "rtc_doomed"}
            await platform.call("rtc_doomed").wait_connected()
            # The network to MongoDB goes away, then the process is killed.
            doomed_store.client = None
            doomed_store._db = _Unreachable()
            nursery.cancel_scope.cancel()
        assert await survivor.leases_held() == 1
        refused = await survivor.call(0, "rtc_blocked")
        assert refused.json() == {"ok": True, "rejected": "capacity"}
        await trio.sleep(LEASE_TTL_S + 1)
        admitted = await survivor.call(0, "rtc_freed")
        assert admitted.json() == {"ok": True, "accepted": "rtc_freed"}
        await platform.call("rtc_freed").wait_connected()
        await platform.call("rtc_freed").caller_hangup()
        with trio.fail_after(WAIT_S):
            await survivor.logs.wait_for("call_ended", call_id="rtc_freed")


class _Unreachable:
    """A database whose every collection fails like a partitioned network."""

    def __getitem__(self, name: str) -> object:
        raise pymongo.errors.AutoReconnect("connection refused")


async def test_duplicate_webhook_to_two_replicas_starts_one_call(mock_clock: trio.testing.MockClock) -> None:
    """The same delivery posted to two replicas at once: one accept, the other answer a duplicate."""
    async with open_cluster(replicas=2) as cluster:
        answers: list[dict[str, object]] = []

        async def deliver(replica: int) -> None:
            response = await cluster.call(replica, "rtc_twice", webhook_id="wh_twice")
            answers.append(response.json())

        cluster.platform.delay("accept", 0.5, call_id="rtc_twice")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(deliver, 0)
            nursery.start_soon(deliver, 1)
        assert sorted(answers, key=str) == sorted(
            [{"ok": True, "accepted": "rtc_twice"}, {"ok": True, "duplicate": True}], key=str
        )
        assert cluster.platform.actions("rtc_twice") == ["accept"]
        await cluster.platform.call("rtc_twice").wait_connected()
        await cluster.platform.call("rtc_twice").caller_hangup()
        with trio.fail_after(WAIT_S):
            await cluster.logs.wait_for("call_ended", call_id="rtc_twice")


async def test_any_replica_lists_and_hangs_up_every_call(mock_clock: trio.testing.MockClock) -> None:
    """GET /actors?scope=cluster on replica 1 shows replica 0's call; its hangup ends it there."""
    async with open_cluster(replicas=2) as cluster:
        await cluster.call(0, "rtc_remote")
        await cluster.platform.call("rtc_remote").wait_connected()
        admin = cluster.replicas[1].admin_url
        tree = (await cluster.http.get(f"{admin}/actors", params={"scope": "cluster"})).json()
        calls = {c["call_id"]: c for c in tree["cluster"]["calls"]}
        assert calls["rtc_remote"]["replica_id"] == "replica-0"
        assert tree["calls"] == []
        response = await cluster.http.post(f"{admin}/actors/rtc_remote/hangup")
        assert response.status_code == 202
        assert response.json()["replica_id"] == "replica-0"
        with trio.fail_after(WAIT_S):
            ended = await cluster.logs.wait_for("call_ended", call_id="rtc_remote")
        assert ended["reason"] == "operator_hangup"
        assert cluster.platform.actions("rtc_remote") == ["accept", "hangup"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_store_refuses_new_calls_with_sip_503() -> None:
    """The real driver against a closed port: calls are rejected capacity_unavailable (SIP 503).

    On the real clock: the driver's own server-selection timeout (0.5 s) must be what fires.
    """
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        f"mongodb://127.0.0.1:{_closed_port()}/", serverSelectionTimeoutMS=500, connect=False
    )
    store = MongoStore(client, timeout_ms=500, max_threads=4)
    async with open_cluster(replicas=1, store=store) as cluster:
        response = await cluster.call(0, "rtc_no_store")
        assert response.json() == {"ok": True, "rejected": "capacity_unavailable"}
        assert cluster.platform.requests_for("rtc_no_store")[-1].body == {"status_code": 503}
        unavailable = cluster.logs.events("cluster_store_unavailable")
        assert unavailable
        assert unavailable[-1]["error"]["reason"] == "db_timeout"
        assert unavailable[-1]["error"]["context"]["cause_type"] == "ServerSelectionTimeoutError"
    client.close()


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


async def test_a_call_whose_slot_was_taken_over_reports_the_lost_lease(
    mock_clock: trio.testing.MockClock,
) -> None:
    """If another call claimed this call's expired slot, the next heartbeat logs capacity_lease_lost."""
    async with open_cluster(replicas=1, limit=1) as cluster:
        await cluster.call(0, "rtc_victim")
        await cluster.platform.call("rtc_victim").wait_connected()
        # What an outage longer than the TTL allows: another replica's call claimed the slot.
        await cluster.store.run(
            "steal",
            lambda db: db[SLOTS].update_one({"holder": "rtc_victim"}, {"$set": {"holder": "rtc_thief"}}),
        )
        with trio.fail_after(WAIT_S):
            lost = await cluster.logs.wait_for("capacity_lease_lost", call_id="rtc_victim")
        assert lost["level"] == "ERROR"
        # acme-corp has a tenant limit: the call held a tenant slot and a global one.
        assert (lost["slots_held"], lost["slots_expected"]) == (1, 2)
        assert cluster.platform.call("rtc_victim").live_connections == 1  # the caller is not cut off
        metrics = (await cluster.replicas[0].admin("GET", "/metrics")).text
        assert "callvisor_capacity_leases_lost_total 1.0" in metrics.splitlines()
        await cluster.platform.call("rtc_victim").caller_hangup()
        with trio.fail_after(WAIT_S):
            await cluster.logs.wait_for("call_ended", call_id="rtc_victim")
