"""Capacity: how many calls may hold a slot at once, globally and per tenant.

A slot is taken when a call is decided (it is *pending* until accepted) and held until the call
actor ends.  :meth:`LocalCapacity.hold` is the only way to take one, and its exit is the only way
to give it back: no code path releases a slot by hand.  Taking a slot is a synchronous
check-and-increment, so a burst of simultaneous calls can never admit more than the limit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from actors.call import CallRefused
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

    @asynccontextmanager
    async def hold(self, call: CallHandle, *, tenant_limit: int | None) -> AsyncIterator[None]:
        """Hold one slot for ``call``'s tenant until the block exits.

        Raises :class:`CallRefused` (``tenant_capacity`` or ``global_capacity``) on entry when
        full; the tenant limit is checked first so that a tenant at its own limit is told so.
        """
        tenant_id = call.tenant_id or "unknown"
        if tenant_limit is not None and self.by_tenant[tenant_id] >= tenant_limit:
            raise CallRefused("tenant_capacity")
        if self.in_use >= self.limit:
            raise CallRefused("global_capacity")
        self.in_use += 1
        self.by_tenant[tenant_id] += 1
        try:
            yield
        finally:
            self.in_use -= 1
            self.by_tenant[tenant_id] -= 1
            if not self.by_tenant[tenant_id]:
                del self.by_tenant[tenant_id]

    def snapshot(self) -> dict[str, object]:
        return {"used": self.in_use, "limit": self.limit, "by_tenant": dict(self.by_tenant)}
