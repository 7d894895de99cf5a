"""Capacity: how many calls may hold a slot at once, globally and per tenant.

A slot is taken when a call is decided (it is *pending* until accepted) and held until the call
actor ends.  :meth:`LocalCapacity.hold` is the only way to take one, and its exit is the only way
to give it back: no code path releases a slot by hand.  Taking a slot is a synchronous
check-and-increment, so a burst of simultaneous calls can never admit more than the limit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from actors.errors import CallRefused
from actors.handle import CallHandle


class Capacity(Protocol):
    """Where slots come from: this process (:class:`LocalCapacity`) or the cluster
    (:class:`supervisor.cluster.LeaseCapacity`)."""

    limit: int

    @property
    def in_use(self) -> int: ...

    @property
    def by_tenant(self) -> Mapping[str, int]: ...

    def hold(
        self, call: CallHandle, *, tenant_limit: int | None
    ) -> AbstractAsyncContextManager[None]: ...

    def snapshot(self) -> dict[str, object]: ...


class LocalCapacity:
    """Slots counted in this process."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("capacity limit must be >= 1")
        self.limit = limit
        self.in_use = 0
        self.by_tenant: Counter[str] = Counter()

    def hold(self, call: CallHandle, *, tenant_limit: int | None) -> AbstractAsyncContextManager[None]:
        """Hold one slot for ``call``'s tenant until the block exits.

        Raises :class:`CallRefused` (``tenant_capacity`` or ``global_capacity``) on entry when
        full; the tenant limit is checked first so that a tenant at its own limit is told so.
        """
        return _LocalSlot(self, call.tenant_id or "unknown", tenant_limit)

    def snapshot(self) -> dict[str, object]:
        return {"used": self.in_use, "limit": self.limit, "by_tenant": dict(self.by_tenant)}


class _LocalSlot:
    """One slot of a :class:`LocalCapacity`, taken on entry and given back on exit.

    A class rather than an ``asynccontextmanager``: every live call holds one, and a generator
    would keep a suspended frame (and trio's finalizer bookkeeping) per call.
    """

    __slots__ = ("_capacity", "_tenant_id", "_tenant_limit")

    def __init__(self, capacity: LocalCapacity, tenant_id: str, tenant_limit: int | None) -> None:
        self._capacity = capacity
        self._tenant_id = tenant_id
        self._tenant_limit = tenant_limit

    async def __aenter__(self) -> None:
        capacity, tenant_id = self._capacity, self._tenant_id
        if self._tenant_limit is not None and capacity.by_tenant[tenant_id] >= self._tenant_limit:
            raise CallRefused("tenant_capacity")
        if capacity.in_use >= capacity.limit:
            raise CallRefused("global_capacity")
        capacity.in_use += 1
        capacity.by_tenant[tenant_id] += 1

    async def __aexit__(self, *exc_info: object) -> None:
        capacity, tenant_id = self._capacity, self._tenant_id
        capacity.in_use -= 1
        capacity.by_tenant[tenant_id] -= 1
        if not capacity.by_tenant[tenant_id]:
            del capacity.by_tenant[tenant_id]
