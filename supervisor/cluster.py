"""Cluster mode: replicas share capacity, webhook dedup and the call registry through MongoDB.

Enabled by ``CALLVISOR_CLUSTER=mongodb``.  MongoDB is the coordination engine; every rule below is
one atomic single-document operation, so no protocol of our own is involved.

Capacity leases (collection ``capacity_slots``)
    A limit of N is N slot documents (``global:0`` … ``global:N-1``; ``tenant:{id}:{k}`` for a
    tenant limit).  Taking a slot is one ``find_one_and_update`` that claims any slot whose
    holder is empty or whose lease expired; it is atomic per document, so concurrent replicas
    never admit more than N.  The lease is renewed by a heartbeat task in the call actor's
    nursery and released when the actor's slot scope exits.  A crashed replica stops renewing:
    its slots come free within ``CALLVISOR_LEASE_TTL_S``.

Webhook dedup (collections ``webhook_deliveries`` and ``call_decisions``)
    A delivery is claimed by inserting a *pending* record with a unique ``_id``; it is settled
    with its outcome only when that outcome is definitive, and deleted otherwise, so OpenAI's
    redelivery is processed.  A pending record left by a crashed replica expires after the
    pending window and may be taken over.  Settled records carry a TTL (``gc_at``).

Call registry (collection ``calls``)
    One document per live call (replica, tenant, state, lease expiry), written when the call is
    admitted, refreshed by its heartbeat, deleted when it ends.  Any replica lists it
    (``GET /actors?scope=cluster``) and may ask for a hangup: it sets ``hangup_requested`` and
    the owning replica's watcher ends the call.

When MongoDB cannot be reached
    New calls are refused: the capacity lease cannot be taken, so the call is rejected with SIP
    503 (``rejected: capacity_unavailable``) — limits are never exceeded silently.  Calls that
    hold leases keep going; their heartbeats log ``capacity_lease_renew_failed``, and once a
    lease has expired unrenewed ``capacity_lease_lost`` (ERROR: other replicas may now admit
    into that slot).  Dedup falls back to this replica's own memory and logs
    ``cluster_store_unavailable``.

Times stored for lease logic come from ``now`` (wall-clock seconds in production; tests pass
virtual time); ``gc_at`` is a BSON date for MongoDB's TTL indexes, far behind any lease.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Generic, TypeVar

import pymongo
import trio
from attrs import frozen
from pymongo.errors import DuplicateKeyError

from actors.decision import Decision, Outcome
from actors.errors import CallRefused
from actors.handle import CallHandle
from actors.log import log_event
from config.errors import InstructionsDBError
from config.mongo_store import MongoStore

from .ledger import Claim, Ledger

T = TypeVar("T")

SLOTS = "capacity_slots"
CALLS = "calls"
DELIVERIES = "webhook_deliveries"
DECISIONS = "call_decisions"

#: How long settled dedup records and stale documents are kept before MongoDB's TTL removes them.
GC_AFTER_S = 24 * 3600.0
#: How long a pending dedup record holds its key before another replica may take it over.
PENDING_WINDOW_S = 30.0
#: How often a replica looks for hangups other replicas asked for its calls.
HANGUP_POLL_S = 1.0

Clock = Callable[[], float]


def _gc_at(seconds: float = GC_AFTER_S) -> datetime.datetime:
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


class LeaseCapacity:
    """Global and per-tenant limits as lease documents shared by every replica."""

    def __init__(
        self,
        store: MongoStore,
        *,
        replica_id: str,
        limit: int,
        lease_ttl_s: float,
        now: Clock = time.time,
    ) -> None:
        self.store = store
        self.replica_id = replica_id
        self.limit = limit
        self.lease_ttl_s = lease_ttl_s
        self.now = now
        self.held: dict[str, CallHandle] = {}

    @property
    def in_use(self) -> int:
        """Slots held by *this* replica."""
        return len(self.held)

    @property
    def by_tenant(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for call in self.held.values():
            key = call.tenant_id or "unknown"
            counts[key] = counts.get(key, 0) + 1
        return counts

    def snapshot(self) -> dict[str, object]:
        return {
            "used": self.in_use,
            "limit": self.limit,
            "by_tenant": self.by_tenant,
            "scope": "replica (cluster: GET /actors?scope=cluster)",
        }

    async def used_in_cluster(self) -> int:
        now = self.now()
        return await self.store.run(
            "count_leases",
            lambda db: db[SLOTS].count_documents(
                {"_id": {"$regex": "^global:"}, "holder": {"$ne": None}, "expires": {"$gt": now}}
            ),
        )

    @asynccontextmanager
    async def hold(self, call: CallHandle, *, tenant_limit: int | None) -> AsyncIterator[None]:
        """Lease a tenant slot (when limited) and a global slot for ``call`` until exit.

        Raises CallRefused ``tenant_capacity`` / ``global_capacity``, or ``store_unavailable``
        when MongoDB cannot be reached.  The heartbeat runs in a nursery of the calling task
        (the call actor), so it appears in the call's task tree and ends with it.
        """
        tenant_id = call.tenant_id or "unknown"
        groups = [("global", self.limit, "global_capacity")]
        if tenant_limit is not None:
            groups.insert(0, (f"tenant:{tenant_id}", tenant_limit, "tenant_capacity"))
        taken: list[str] = []
        try:
            for prefix, limit, refusal in groups:
                slot = await self._take(prefix, limit, call, tenant_id)
                if slot is None:
                    raise CallRefused(refusal)
                taken.append(slot)
            await self._register(call, tenant_id)
        except InstructionsDBError as err:
            log_event(logging.ERROR, "cluster_store_unavailable", "capacity lease not taken; call refused", error=err)
            if taken:
                await self._release(call.call_id)
            raise CallRefused("store_unavailable") from None
        except BaseException:
            if taken:
                await self._release(call.call_id)
            raise
        self.held[call.call_id] = call
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._heartbeat, call, len(taken), name="lease-heartbeat")
                try:
                    yield
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            del self.held[call.call_id]
            await self._release(call.call_id)

    async def _take(self, prefix: str, limit: int, call: CallHandle, tenant_id: str) -> str | None:
        ids = [f"{prefix}:{k}" for k in range(limit)]
        now = self.now()
        lease = {
            "holder": call.call_id,
            "tenant_id": tenant_id,
            "replica_id": self.replica_id,
            "expires": now + self.lease_ttl_s,
        }

        def claim(db: Any) -> str | None:
            slots = db[SLOTS]
            free = {"_id": {"$in": ids}, "$or": [{"holder": None}, {"expires": {"$lte": now}}]}
            found = slots.find_one_and_update(free, {"$set": lease}, projection={"_id": 1})
            if found is None:
                existing = {doc["_id"] for doc in slots.find({"_id": {"$in": ids}}, {"_id": 1})}
                missing = [slot for slot in ids if slot not in existing]
                if not missing:
                    return None
                # First use of these slots: create them empty (another replica may create
                # some of them at the same moment), then claim again.
                with contextlib.suppress(pymongo.errors.BulkWriteError):
                    slots.insert_many(
                        [{"_id": slot, "holder": None, "expires": 0.0} for slot in missing],
                        ordered=False,
                    )
                found = slots.find_one_and_update(free, {"$set": lease}, projection={"_id": 1})
            return None if found is None else str(found["_id"])

        return await self.store.run("take_lease", claim, tenant_id=tenant_id)

    async def _register(self, call: CallHandle, tenant_id: str) -> None:
        document = self._registry_document(call, tenant_id)
        await self.store.run(
            "register_call",
            lambda db: db[CALLS].replace_one({"_id": call.call_id}, document, upsert=True),
            tenant_id=tenant_id,
        )

    def _registry_document(self, call: CallHandle, tenant_id: str) -> dict[str, Any]:
        return {
            "_id": call.call_id,
            "replica_id": self.replica_id,
            "tenant_id": tenant_id,
            "state": call.state,
            "received_wall": time.time(),
            "expires": self.now() + self.lease_ttl_s,
            "hangup_requested": False,
            "gc_at": _gc_at(),
        }

    async def _heartbeat(self, call: CallHandle, slots: int) -> None:
        """Renew the call's ``slots`` leases and registry entry every third of the TTL.

        A lease that expired while MongoDB was unreachable may have been claimed by another
        call since; the renewal then matches fewer slots than the call holds, and
        ``capacity_lease_lost`` says so (once): the fleet runs above its limit until this call
        ends.  Nothing is ended on our side: the caller is not hung up for a database outage.
        """
        interval = self.lease_ttl_s / 3
        renewed_at = self.now()
        lost = False
        call_id = call.call_id
        while True:
            await trio.sleep(interval)
            expires = self.now() + self.lease_ttl_s

            def renew(db: Any, expires: float = expires, state: str = call.state) -> int:
                result = db[SLOTS].update_many({"holder": call_id}, {"$set": {"expires": expires}})
                db[CALLS].update_one(
                    {"_id": call_id},
                    {"$set": {"expires": expires, "state": state, "gc_at": _gc_at()}},
                )
                return int(result.matched_count)

            try:
                renewed = await self.store.run("renew_lease", renew, tenant_id=call.tenant_id)
            except InstructionsDBError as err:
                call.counters["lease_renew_failures"] += 1
                log_event(logging.WARNING, "capacity_lease_renew_failed", "lease not renewed; the call goes on", error=err)
                if not lost and self.now() > renewed_at + self.lease_ttl_s:
                    lost = True
                    log_event(
                        logging.ERROR, "capacity_lease_lost",
                        "lease expired unrenewed: other replicas may admit into this slot",
                    )
                continue
            renewed_at = self.now()
            if renewed < slots and not lost:
                lost = True
                log_event(
                    logging.ERROR, "capacity_lease_lost",
                    "another call holds this call's slot now: the limit is exceeded until it ends",
                    slots_held=renewed, slots_expected=slots,
                )

    async def _release(self, call_id: str) -> None:
        """Give back every slot of ``call_id`` and drop its registry entry (shielded, bounded)."""

        def release(db: Any) -> None:
            db[SLOTS].update_many({"holder": call_id}, {"$set": {"holder": None, "expires": 0.0}})
            db[CALLS].delete_one({"_id": call_id})

        with trio.move_on_after(self.store.deadline_s + 1, shield=True):
            try:
                await self.store.run("release_lease", release)
            except InstructionsDBError as err:
                log_event(
                    logging.WARNING, "capacity_lease_renew_failed",
                    "lease not released; it frees itself when it expires", error=err,
                )

    # -- the registry, seen from any replica ---------------------------------------------------

    async def cluster_calls(self) -> list[dict[str, Any]]:
        now = self.now()
        documents = await self.store.run("list_calls", lambda db: list(db[CALLS].find({})))
        return [
            {
                "call_id": doc["_id"],
                "replica_id": doc.get("replica_id"),
                "tenant_id": doc.get("tenant_id"),
                "state": doc.get("state"),
                "lease_expires_in_s": round(float(doc.get("expires", 0.0)) - now, 3),
                "stale": float(doc.get("expires", 0.0)) <= now,
                "hangup_requested": bool(doc.get("hangup_requested")),
            }
            for doc in documents
        ]

    async def request_hangup(self, call_id: str) -> str | None:
        """Ask the owning replica to end ``call_id``; returns its replica id, None if unknown."""
        now = self.now()
        found = await self.store.run(
            "request_hangup",
            lambda db: db[CALLS].find_one_and_update(
                {"_id": call_id, "expires": {"$gt": now}},
                {"$set": {"hangup_requested": True}},
                projection={"replica_id": 1},
            ),
        )
        return None if found is None else str(found["replica_id"])

    async def watch_hangups(self) -> None:
        """Run forever: end local calls whose hangup another replica asked for.

        Also retries creating the cluster indexes until it succeeds once (MongoDB may have
        been down when the replica started).
        """
        indexed = False
        while True:
            await trio.sleep(HANGUP_POLL_S)
            if not indexed:
                with contextlib.suppress(InstructionsDBError):
                    await ensure_cluster_indexes(self.store)
                    indexed = True
            if not self.held:
                continue
            try:
                wanted = await self.store.run(
                    "poll_hangups",
                    lambda db: [
                        doc["_id"]
                        for doc in db[CALLS].find(
                            {"replica_id": self.replica_id, "hangup_requested": True}, {"_id": 1}
                        )
                    ],
                )
            except InstructionsDBError:
                continue  # the heartbeats report the outage
            for call_id in wanted:
                call = self.held.get(call_id)
                if call is not None and call.request_end("operator_hangup"):
                    log_event(
                        logging.INFO, "operator_hangup", "hangup asked through another replica",
                        call_id=call_id, tenant_id=call.tenant_id,
                    )


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
                "gc_at": _gc_at(),
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
                        owned, {"$set": {"state": "settled", "outcome": encoded, "gc_at": _gc_at()}}
                    ),
                )
        except InstructionsDBError as err:
            log_event(
                logging.ERROR, "cluster_store_unavailable",
                "dedup record not finished; it expires by itself", error=err,
            )


def _encode_decision(decision: Decision) -> dict[str, Any]:
    return {
        "outcome": decision.outcome.value,
        "call_id": decision.call_id,
        "reason": decision.reason,
        "tenant_id": decision.tenant_id,
        "sip_status": decision.sip_status,
    }


def _decode_decision(value: Any) -> Decision:
    return Decision(
        outcome=Outcome(value["outcome"]),
        call_id=value["call_id"],
        reason=value.get("reason"),
        tenant_id=value.get("tenant_id"),
        sip_status=value.get("sip_status"),
    )


def _encode_reply(reply: tuple[int, dict[str, Any]]) -> list[Any]:
    return [reply[0], reply[1]]


def _decode_reply(value: Any) -> tuple[int, dict[str, Any]]:
    return int(value[0]), dict(value[1])


@frozen(kw_only=True)
class Coordination:
    """The shared pieces one replica needs in cluster mode."""

    store: MongoStore
    capacity: LeaseCapacity
    decisions: MongoLedger[Decision]
    deliveries: MongoLedger[tuple[int, dict[str, Any]]]


def cluster_coordination(
    store: MongoStore,
    *,
    replica_id: str,
    limit: int,
    lease_ttl_s: float,
    now: Clock = time.time,
) -> Coordination:
    """Capacity leases, call-decision and webhook-delivery ledgers on ``store``."""
    return Coordination(
        store=store,
        capacity=LeaseCapacity(store, replica_id=replica_id, limit=limit, lease_ttl_s=lease_ttl_s, now=now),
        decisions=MongoLedger(
            store, DECISIONS, replica_id=replica_id, encode=_encode_decision, decode=_decode_decision, now=now
        ),
        deliveries=MongoLedger(
            store, DELIVERIES, replica_id=replica_id, encode=_encode_reply, decode=_decode_reply, now=now
        ),
    )
