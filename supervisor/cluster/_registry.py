"""The call registry: one ``calls`` document per live call, seen from any replica.

A document (replica, tenant, state, lease expiry) is written when the call is admitted, refreshed
by its lease heartbeat and deleted when its leases are released; the heartbeat and the release
write it in the same MongoDB operation as the leases, through :meth:`CallRegistry.refresh` and
:meth:`CallRegistry.remove`.  Any replica lists the registry (``GET /actors?scope=cluster``) and
may ask for a hangup: it sets ``hangup_requested``, which the owning replica's
:class:`~supervisor.cluster.HangupRelay` polls for.
"""

from __future__ import annotations

import time
from typing import Any

from actors.handle import CallHandle
from config.mongo_store import MongoStore

from ._collections import CALLS, Clock, gc_at


class CallRegistry:
    """The ``calls`` collection: who runs which call, until when its lease holds."""

    def __init__(
        self,
        store: MongoStore,
        *,
        replica_id: str,
        lease_ttl_s: float,
        now: Clock = time.time,
    ) -> None:
        self.store = store
        self.replica_id = replica_id
        self.lease_ttl_s = lease_ttl_s
        self.now = now

    async def register(self, call: CallHandle, tenant_id: str) -> None:
        """Write the registry entry of a call that has just taken its leases."""
        document = self._document(call, tenant_id)
        await self.store.run(
            "register_call",
            lambda db: db[CALLS].replace_one({"_id": call.call_id}, document, upsert=True),
            tenant_id=tenant_id,
        )

    def _document(self, call: CallHandle, tenant_id: str) -> dict[str, Any]:
        return {
            "_id": call.call_id,
            "replica_id": self.replica_id,
            "tenant_id": tenant_id,
            "state": call.state,
            "received_wall": time.time(),
            "expires": self.now() + self.lease_ttl_s,
            "hangup_requested": False,
            "gc_at": gc_at(),
        }

    @staticmethod
    def refresh(db: Any, call_id: str, *, expires: float, state: str) -> None:
        """Extend the entry of ``call_id`` (runs inside the heartbeat's MongoDB operation)."""
        db[CALLS].update_one(
            {"_id": call_id},
            {"$set": {"expires": expires, "state": state, "gc_at": gc_at()}},
        )

    @staticmethod
    def remove(db: Any, call_id: str) -> None:
        """Drop the entry of ``call_id`` (runs inside the lease release's MongoDB operation)."""
        db[CALLS].delete_one({"_id": call_id})

    async def calls(self) -> list[dict[str, Any]]:
        """Every registered call of the fleet, with how long its lease still holds."""
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

    async def hangups_requested(self) -> list[str]:
        """The ids of this replica's calls whose hangup another replica asked for."""
        return await self.store.run(
            "poll_hangups",
            lambda db: [
                doc["_id"]
                for doc in db[CALLS].find(
                    {"replica_id": self.replica_id, "hangup_requested": True}, {"_id": 1}
                )
            ],
        )
