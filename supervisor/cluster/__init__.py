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
    the owning replica's hangup relay (the ``cluster-hangups`` task) ends the call.

When MongoDB cannot be reached
    New calls are refused: the capacity lease cannot be taken, so the call is rejected with SIP
    503 (``rejected: capacity_unavailable``) — limits are never exceeded silently.  Calls that
    hold leases keep going; their heartbeats log ``capacity_lease_renew_failed``, and once a
    lease has expired unrenewed ``capacity_lease_lost`` (ERROR: other replicas may now admit
    into that slot).  Dedup falls back to this replica's own memory and logs
    ``cluster_store_unavailable``.

Times stored for lease logic come from ``now`` (wall-clock seconds in production; tests pass
virtual time); ``gc_at`` is a BSON date for MongoDB's TTL indexes, far behind any lease.

This module is the face; the code sits in one private module per noun, each handed what it needs
and none importing this face back:

==================  ======================================================================
``_collections``    collection names, ``gc_at``, :func:`ensure_cluster_indexes`
``_leases``         :class:`LeaseCapacity` and its ``lease-heartbeat``
``_registry``       :class:`CallRegistry`, the ``calls`` collection
``_hangups``        :class:`HangupRelay`, hangups asked through another replica
``_ledger``         :class:`MongoLedger` and how decisions and replies are stored
``_coordination``   :class:`Coordination` and :func:`cluster_coordination`, the wiring
==================  ======================================================================
"""

from ._collections import CALLS as CALLS
from ._collections import DECISIONS as DECISIONS
from ._collections import DELIVERIES as DELIVERIES
from ._collections import GC_AFTER_S as GC_AFTER_S
from ._collections import SLOTS as SLOTS
from ._collections import Clock as Clock
from ._collections import ensure_cluster_indexes as ensure_cluster_indexes
from ._coordination import Coordination as Coordination
from ._coordination import cluster_coordination as cluster_coordination
from ._hangups import HANGUP_POLL_S as HANGUP_POLL_S
from ._hangups import HangupRelay as HangupRelay
from ._leases import LeaseCapacity as LeaseCapacity
from ._ledger import PENDING_WINDOW_S as PENDING_WINDOW_S
from ._ledger import MongoLedger as MongoLedger
from ._registry import CallRegistry as CallRegistry
