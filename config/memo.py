"""``TenantMemo``: what ``config.resolve`` derived from a tenant's documents, kept per tenant.

``parse_config`` and ``build_tools`` are pure: the same config document (and the same tool
settings) always gives the same ``TenantConfig``, the same tools or the same error.  Every call
of a tenant used to redo both; ``config.resolve`` keeps the last outcome of each tenant in a
``TenantMemo``, a bounded LRU by tenant id, next to the key it was derived from:

- a config document is keyed by its ``fingerprint``, its pickle.  Not its identity: the
  MongoDB source hands out a new mapping on every fetch, and a mapping can be changed in place.
  Not ``==`` either: ``1 == 1.0 == True``, while the strict converter takes only an ``int`` for
  an int field.  A pickle records every value with its exact type and every mapping's key
  order (an http tool's schema is announced in it), and unpickles to the document it was made
  from, so two documents with one fingerprint structure alike; two equal documents may still
  pickle apart (a sub-object shared within one is written once), which only costs a miss.
  ``pickle.dumps`` runs in C: about 3 us for a config with three tools, where structuring it
  costs 13 us and building its tools 25 us (``repr`` is as faithful for what YAML and BSON
  decode to, at twice the cost).  A document that cannot be pickled is structured every time.
- the built tools are keyed by the identity of the ``TenantConfig`` they were built from (the
  memo holds it, so the identity cannot be reused) and the two tool settings: a changed
  document gives a new config, hence a miss.

Nothing is invalidated by hand, and nothing needs to be: when a source hands out a changed
document (a tenants file read again, a MongoDB document replaced by ``tenants import``), its
fingerprint changes and the next call derives everything again.  A memo is per process and
used from the trio thread only.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from typing import Generic, TypeVar

from attrs import frozen

from .models import TenantConfig, ToolSpec

K = TypeVar("K")
V = TypeVar("V")

DEFAULT_MAX_TENANTS = 1024
"""Tenants a memo remembers; the least recently used is dropped first."""


def fingerprint(document: object) -> bytes | None:
    """The key a raw document is remembered by, or None when it cannot be pickled."""
    try:
        return pickle.dumps(document, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError, ValueError, RecursionError):
        return None


class BoundedLru(Generic[K, V]):
    """A mapping that keeps its ``limit`` most recently used entries (``limit`` >= 1)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._entries: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The entry of ``key`` (now the most recently used), or None."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: K, entry: V) -> None:
        """Remember ``entry`` under ``key``, dropping the least recently used if full."""
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._limit:
            self._entries.popitem(last=False)

    def pop(self, key: K) -> None:
        """Forget ``key`` (nothing happens if it is not there)."""
        self._entries.pop(key, None)

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()


class TenantMemo(BoundedLru[str, V]):
    """The last outcome derived for each tenant, at most ``max_tenants`` of them."""

    def __init__(self, max_tenants: int = DEFAULT_MAX_TENANTS) -> None:
        if max_tenants < 1:
            raise ValueError("max_tenants must be >= 1")
        super().__init__(max_tenants)
        self.max_tenants = max_tenants


@frozen(kw_only=True, eq=False)
class ParsedConfig:
    """The outcome of structuring one config document: a config, or the errors."""

    fingerprint: bytes | None  # None: never matches (the document could not be pickled)
    config: TenantConfig | None
    errors: tuple[str, ...] = ()


@frozen(kw_only=True, eq=False)
class BuiltTools:
    """The outcome of building a config's tools under the tool settings."""

    config: TenantConfig  # compared by identity
    allowed_hosts: frozenset[str]
    allow_plain_http: bool
    tools: tuple[ToolSpec, ...] = ()
    reason: str | None = None  # the ToolBuildError reason when building failed
    errors: tuple[str, ...] = ()

    def built_from(
        self, config: TenantConfig, allowed_hosts: frozenset[str], allow_plain_http: bool
    ) -> bool:
        """Whether these are the tools of this very ``config`` under these settings."""
        return (
            self.config is config
            and self.allow_plain_http == allow_plain_http
            and self.allowed_hosts == allowed_hosts
        )


CONFIG_MEMO: TenantMemo[ParsedConfig] = TenantMemo()
"""Each tenant's last structured config document, by fingerprint (``config.resolve``)."""

TOOLS_MEMO: TenantMemo[BuiltTools] = TenantMemo()
"""Each tenant's last built tools, by config identity and tool settings (``config.resolve``)."""
