"""The wiring: the cluster pieces of one replica, built on one MongoDB store."""

from __future__ import annotations

import time
from typing import Any

from attrs import frozen

from actors.decision import Outcome
from config.mongo_store import MongoStore

from ._collections import DECISIONS, DELIVERIES, Clock
from ._hangups import HangupRelay
from ._leases import LeaseCapacity
from ._ledger import MongoLedger, decode_outcome, decode_reply, encode_outcome, encode_reply
from ._registry import CallRegistry


@frozen(kw_only=True)
class Coordination:
    """The shared pieces one replica needs in cluster mode."""

    store: MongoStore
    capacity: LeaseCapacity
    registry: CallRegistry
    hangups: HangupRelay
    decisions: MongoLedger[Outcome]
    deliveries: MongoLedger[tuple[int, dict[str, Any]]]


def cluster_coordination(
    store: MongoStore,
    *,
    replica_id: str,
    limit: int,
    lease_ttl_s: float,
    now: Clock = time.time,
) -> Coordination:
    """Capacity leases, the call registry and its hangup relay, call-decision and
    webhook-delivery ledgers on ``store``."""
    registry = CallRegistry(store, replica_id=replica_id, lease_ttl_s=lease_ttl_s, now=now)
    capacity = LeaseCapacity(
        store, registry, replica_id=replica_id, limit=limit, lease_ttl_s=lease_ttl_s, now=now
    )
    return Coordination(
        store=store,
        capacity=capacity,
        registry=registry,
        hangups=HangupRelay(store, registry, held=capacity.held),
        decisions=MongoLedger(
            store, DECISIONS, replica_id=replica_id, encode=encode_outcome, decode=decode_outcome, now=now
        ),
        deliveries=MongoLedger(
            store, DELIVERIES, replica_id=replica_id, encode=encode_reply, decode=decode_reply, now=now
        ),
    )
