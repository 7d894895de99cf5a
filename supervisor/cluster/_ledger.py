"""The dedup ledger across replicas, and how its outcomes are stored.

A delivery is claimed by inserting a *pending* record with a unique ``_id``; it is settled with
its outcome only when that outcome is definitive, and deleted otherwise, so OpenAI's redelivery
is processed.  A pending record left by a crashed replica expires after the pending window and
may be taken over.  Settled records carry a TTL (``gc_at``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

import trio
from pymongo.errors import DuplicateKeyError

from actors.decision import Outcome
from actors.log import log_event
from config.errors import InstructionsDBError
from config.mongo_store import MongoStore

from ..ledger import Claim, Ledger
from ._collections import Clock, gc_at

T = TypeVar("T")

#: How long a pending dedup record holds its key before another replica may take it over.
PENDING_WINDOW_S = 30.0

class MongoLedger(Generic[T]):
    """:class:`~supervisor.ledger.Ledger` semantics across replicas ("definitive outcome only").

    ``encode``/``decode`` turn outcomes into BSON-ready values.  When MongoDB cannot be reached
    the claim falls back to this replica's in-memory ledger.
    """

    def __init__(
        self,
        store: MongoStore,
        collection: str,
        *,
        replica_id: str,
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
        now: Clock = time.time,
        pending_window_s: float = PENDING_WINDOW_S,
    ) -> None:
        self.store = store
        self.collection = collection
        self.replica_id = replica_id
        self.encode = encode
        self.decode = decode
        self.now = now
        self.pending_window_s = pending_window_s
        self.local: Ledger[T] = Ledger()

    @asynccontextmanager
    async def claim(self, key: str) -> AsyncIterator[Claim[T]]:
        try:
            previous = await self._acquire(key)
        except InstructionsDBError as err:
            log_event(
                logging.ERROR, "cluster_store_unavailable",
                "dedup store unreachable; deduplicating in this replica only", error=err,
            )
            async with self.local.claim(key) as local_claim:
                yield local_claim
            return
        claim: Claim[T] = Claim(previous)
        if previous is not None:
            yield claim
            return
        try:
            yield claim
        finally:
            with trio.move_on_after(self.store.deadline_s + 1, shield=True):
                await self._finish(key, claim.outcome)

    async def _acquire(self, key: str) -> T | None:
        """Insert a pending record for ``key``; return the settled outcome if there is one.

        Waits (polling) while another replica's pending record is fresh.
        """
        while True:
            now = self.now()
            pending = {
                "_id": key,
                "state": "pending",
                "owner": self.replica_id,
                "expires": now + self.pending_window_s,
                "gc_at": gc_at(),
            }

            def insert(db: Any, pending: dict[str, Any] = pending, now: float = now) -> dict[str, Any] | None:
                records = db[self.collection]
                try:
                    records.insert_one(pending)
                    return None
                except DuplicateKeyError:
                    pass
                taken_over = records.find_one_and_update(
                    {"_id": key, "state": "pending", "expires": {"$lte": now}},
                    {"$set": {"owner": self.replica_id, "expires": pending["expires"]}},
                )
                if taken_over is not None:
                    return None
                found: dict[str, Any] | None = records.find_one({"_id": key})
                return found or {"state": "retry"}

            found = await self.store.run("claim_delivery", insert)
            if found is None:
                return None
            if found.get("state") == "settled":
                return self.decode(found["outcome"])
            await trio.sleep(0.05)

    async def _finish(self, key: str, outcome: T | None) -> None:
        owned = {"_id": key, "owner": self.replica_id, "state": "pending"}
        try:
            if outcome is None:
                await self.store.run("release_delivery", lambda db: db[self.collection].delete_one(owned))
            else:
                encoded = self.encode(outcome)
                await self.store.run(
                    "settle_delivery",
                    lambda db: db[self.collection].update_one(
                        owned, {"$set": {"state": "settled", "outcome": encoded, "gc_at": gc_at()}}
                    ),
                )
        except InstructionsDBError as err:
            log_event(
                logging.ERROR, "cluster_store_unavailable",
                "dedup record not finished; it expires by itself", error=err,
            )


def encode_outcome(outcome: Outcome) -> str:
    """A call's decided outcome as stored in the ``call_decisions`` ledger: its name."""
    return outcome.value


def decode_outcome(value: Any) -> Outcome:
    """The outcome stored by :func:`encode_outcome`, or by releases before it, which stored the
    whole decision as a document (``{"outcome": "accepted", "call_id": ..., ...}``)."""
    return Outcome(value["outcome"] if isinstance(value, dict) else value)


def encode_reply(reply: tuple[int, dict[str, Any]]) -> list[Any]:
    """A webhook reply (status, body) as a BSON array (the ``webhook_deliveries`` ledger)."""
    return [reply[0], reply[1]]


def decode_reply(value: Any) -> tuple[int, dict[str, Any]]:
    """The webhook reply stored by :func:`encode_reply`."""
    return int(value[0]), dict(value[1])
