"""Capacity leases: global and per-tenant limits as slot documents shared by every replica.

A limit of N is N slot documents (``global:0`` … ``global:N-1``; ``tenant:{id}:{k}`` for a tenant
limit) in ``capacity_slots``.  Taking a slot is one ``find_one_and_update`` that claims any slot
whose holder is empty or whose lease expired; it is atomic per document, so concurrent replicas
never admit more than N.  The lease is renewed by a heartbeat task in the call actor's nursery and
released when the actor's slot scope exits.  A crashed replica stops renewing: its slots come free
within ``CALLVISOR_LEASE_TTL_S``.  The call's registry entry (:class:`CallRegistry`) is written
once its slots are taken, and renewed and deleted together with them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pymongo
import trio

from actors.errors import CallRefused
from actors.handle import CallHandle
from actors.log import log_event
from config.errors import InstructionsDBError
from config.mongo_store import MongoStore

from ._collections import SLOTS, Clock
from ._registry import CallRegistry


class LeaseCapacity:
    """Global and per-tenant limits as lease documents shared by every replica."""

    def __init__(
        self,
        store: MongoStore,
        registry: CallRegistry,
        *,
        replica_id: str,
        limit: int,
        lease_ttl_s: float,
        now: Clock = time.time,
    ) -> None:
        self.store = store
        self.registry = registry
        self.replica_id = replica_id
        #: Calls whose lease was lost (``capacity_lease_lost``): callvisor_capacity_leases_lost_total.
        self.leases_lost = 0
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
            await self.registry.register(call, tenant_id)
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
                self.registry.refresh(db, call_id, expires=expires, state=state)
                return int(result.matched_count)

            try:
                renewed = await self.store.run("renew_lease", renew, tenant_id=call.tenant_id)
            except InstructionsDBError as err:
                call.counters["lease_renew_failures"] += 1
                log_event(logging.WARNING, "capacity_lease_renew_failed", "lease not renewed; the call goes on", error=err)
                if not lost and self.now() > renewed_at + self.lease_ttl_s:
                    lost = True
                    self.leases_lost += 1
                    log_event(
                        logging.ERROR, "capacity_lease_lost",
                        "lease expired unrenewed: other replicas may admit into this slot",
                    )
                continue
            renewed_at = self.now()
            if renewed < slots and not lost:
                lost = True
                self.leases_lost += 1
                log_event(
                    logging.ERROR, "capacity_lease_lost",
                    "another call holds this call's slot now: the limit is exceeded until it ends",
                    slots_held=renewed, slots_expected=slots,
                )

    async def _release(self, call_id: str) -> None:
        """Give back every slot of ``call_id`` and drop its registry entry (shielded, bounded)."""

        def release(db: Any) -> None:
            db[SLOTS].update_many({"holder": call_id}, {"$set": {"holder": None, "expires": 0.0}})
            self.registry.remove(db, call_id)

        with trio.move_on_after(self.store.deadline_s + 1, shield=True):
            try:
                await self.store.run("release_lease", release)
            except InstructionsDBError as err:
                log_event(
                    logging.WARNING, "capacity_lease_renew_failed",
                    "lease not released; it frees itself when it expires", error=err,
                )
