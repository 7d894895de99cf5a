"""The cluster collections: their names, how long their documents are kept, their indexes."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from config.mongo_store import MongoStore

SLOTS = "capacity_slots"
CALLS = "calls"
DELIVERIES = "webhook_deliveries"
DECISIONS = "call_decisions"

#: How long settled dedup records and stale documents are kept before MongoDB's TTL removes them.
GC_AFTER_S = 24 * 3600.0

#: Seconds for lease logic: wall-clock seconds in production, virtual time in tests.
Clock = Callable[[], float]


def gc_at(seconds: float = GC_AFTER_S) -> datetime.datetime:
    """The BSON date after which MongoDB's TTL monitor may delete a document."""
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)


async def ensure_cluster_indexes(store: MongoStore) -> None:
    """TTL and lookup indexes of the cluster collections (idempotent)."""

    def create(db: Any) -> None:
        db[SLOTS].create_index("holder")
        db[CALLS].create_index("replica_id")
        db[CALLS].create_index("gc_at", expireAfterSeconds=0)
        db[DELIVERIES].create_index("gc_at", expireAfterSeconds=0)
        db[DECISIONS].create_index("gc_at", expireAfterSeconds=0)

    await store.run("ensure_indexes", create)
