"""Deduplication: remember definitive outcomes by key (webhook-id, call_id).

A delivery counts as handled only once its outcome is definitive.  While one delivery of a key is
being decided, a concurrent delivery of the same key waits for it, then either answers as a
duplicate (the first one settled) or decides itself (the first one failed and OpenAI must be
able to redeliver).

Memory is bounded: entries expire after ``ttl_s`` and the oldest are evicted past
``max_entries``.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

import trio

T = TypeVar("T")

DEFAULT_TTL_S = 24 * 3600.0
DEFAULT_MAX_ENTRIES = 100_000


class Claim(Generic[T]):
    """One delivery's hold on a key; ``previous`` is set when the key was already settled."""

    def __init__(self, previous: T | None) -> None:
        self.previous = previous
        self.outcome: T | None = None

    @property
    def duplicate(self) -> bool:
        return self.previous is not None

    def settle(self, outcome: T) -> None:
        """Record a definitive outcome; later deliveries of the key are duplicates."""
        self.outcome = outcome


class Ledger(Generic[T]):
    """In-process ledger of definitive outcomes.

    Entries are remembered in the order they settle, which is the order they expire: a dict, and
    beside it a deque of the same keys in that order and an array of their expiry times (no tuple,
    no float object, no OrderedDict links), so that a remembered key costs its string, a dict slot
    and 16 bytes.  The key deque is what finds the oldest entry: ``next(iter(dict))`` would scan
    the holes that deletions leave at the front of a dict, about 60 µs per eviction at 100,000
    entries.  The array is consumed from ``_head``; its expired part is cut off once it is the
    larger half, so each expiry time is moved at most once on average.
    """

    def __init__(
        self, *, ttl_s: float = DEFAULT_TTL_S, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._settled: dict[str, T] = {}
        self._order: deque[str] = deque()
        self._expires = array("d")
        self._head = 0
        self._pending: dict[str, trio.Event] = {}

    def __len__(self) -> int:
        return len(self._settled)

    def lookup(self, key: str) -> T | None:
        """The settled outcome of ``key``, if any (expired entries are dropped)."""
        self._expire()
        return self._settled.get(key)

    @asynccontextmanager
    async def claim(self, key: str) -> AsyncIterator[Claim[T]]:
        """Hold ``key`` for one delivery; waits while another delivery holds it."""
        while (pending := self._pending.get(key)) is not None:
            await pending.wait()
        previous = self.lookup(key)
        claim: Claim[T] = Claim(previous)
        if previous is not None:
            yield claim
            return
        done = trio.Event()
        self._pending[key] = done
        try:
            yield claim
        finally:
            del self._pending[key]
            if claim.outcome is not None:
                self._remember(key, claim.outcome)
            done.set()

    def _remember(self, key: str, outcome: T) -> None:
        if key in self._settled:  # cannot happen while claims hold keys; keep the first
            return
        self._settled[key] = outcome
        self._order.append(key)
        self._expires.append(trio.current_time() + self._ttl_s)
        while len(self._settled) > self._max_entries:
            self._drop_oldest()

    def _expire(self) -> None:
        now = trio.current_time()
        expires = self._expires
        while self._head < len(expires) and expires[self._head] <= now:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        del self._settled[self._order.popleft()]
        self._head += 1
        if self._head >= 1024 and self._head * 2 >= len(self._expires):
            del self._expires[: self._head]
            self._head = 0
