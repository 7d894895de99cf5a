"""The multi-replica checks against a real MongoDB server, when ``MONGODB_URI`` names one.

Skipped on the development machines (no server can run there).  Real clock: a remote server's
latency must not be mistaken for a hang.  Each run uses a database of its own, dropped after.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import trio

from config.mongo_store import MongoStore, open_mongo_store
from supervisor.cluster import ensure_cluster_indexes
from tests.cluster.test_replicas import WAIT_S, open_cluster

URI = os.environ.get("MONGODB_URI", "")

pytestmark = [
    pytest.mark.mongodb,
    pytest.mark.skipif(not URI, reason="MONGODB_URI not set: no MongoDB server on this machine"),
]


@pytest.fixture
async def server_store() -> AsyncIterator[MongoStore]:
    async with open_mongo_store(URI, database=f"callvisor_cluster_{uuid.uuid4().hex[:12]}", timeout_ms=5000) as store:
        await ensure_cluster_indexes(store)
        try:
            yield store
        finally:
            await store.run("drop_database", lambda db: db.client.drop_database(db.name))


async def test_burst_across_replicas_on_a_real_server(server_store: MongoStore) -> None:
    """9 simultaneous calls over 3 replicas, global limit 3, real MongoDB: exactly 3 accepted."""
    async with open_cluster(limit=3, store=server_store) as cluster:
        answers: list[dict[str, object]] = []

        async def place(n: int) -> None:
            answers.append((await cluster.call(n % 3, f"rtc_server_{n}")).json())

        async with trio.open_nursery() as nursery:
            for n in range(9):
                nursery.start_soon(place, n)
        accepted = [a["accepted"] for a in answers if "accepted" in a]
        assert len(accepted) == 3
        for call_id in accepted:
            await cluster.platform.call(str(call_id)).wait_connected()
            await cluster.platform.call(str(call_id)).caller_hangup()
        with trio.fail_after(WAIT_S):
            await cluster.wait_no_leases()


async def test_duplicate_to_two_replicas_on_a_real_server(server_store: MongoStore) -> None:
    """One delivery posted to two replicas at once on a real MongoDB starts one call."""
    async with open_cluster(replicas=2, store=server_store) as cluster:
        cluster.platform.delay("accept", 0.5, call_id="rtc_server_twice")
        async with trio.open_nursery() as nursery:
            for replica in (0, 1):
                nursery.start_soon(lambda r=replica: cluster.call(r, "rtc_server_twice", webhook_id="wh_server_twice"))
        assert cluster.platform.actions("rtc_server_twice") == ["accept"]
        await cluster.platform.call("rtc_server_twice").wait_connected()
        await cluster.platform.call("rtc_server_twice").caller_hangup()
