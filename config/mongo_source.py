"""``MongoTenantSource``: the TenantSource over MongoDB, and its per-replica route cache.

Collections (see docs/mongodb.md), each document the one the tenants file gives::

    tenants        {_id: tenant_id, config: {...}}           config absent: no config document
    tenant_state   {_id: tenant_id, greeting_id, instruction_id, ...}
    prompts        {_id: "{tenant_id}:{kind}:{prompt_id}", tenant_id, kind, prompt_id, text}
                   kind is greeting or instruction; unique index on (tenant_id, kind, prompt_id)
    number_routes  {_id: E.164 number, tenant_id}            index on tenant_id

Documents come back without ``_id``, so ``config.resolve`` sees exactly what
``FileTenantSource`` hands out for the same tenant.  Every read goes through ``MongoStore.run``
and fails with ``InstructionsDBError`` -- except ``route_number`` for a number this replica has
routed before: the last known tenant is returned from the ``RouteCache`` so the call reaches
the downtime prompts instead of being rejected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import InstructionsDBError
from .memo import BoundedLru
from .mongo_store import MongoStore
from .source import PromptKind

TENANTS = "tenants"
TENANT_STATE = "tenant_state"
PROMPTS = "prompts"
NUMBER_ROUTES = "number_routes"
COLLECTIONS = (TENANTS, TENANT_STATE, PROMPTS, NUMBER_ROUTES)

#: (collection, keys, options) of every index beyond ``_id``.
INDEXES: tuple[tuple[str, list[tuple[str, int]], dict[str, Any]], ...] = (
    (
        PROMPTS,
        [("tenant_id", 1), ("kind", 1), ("prompt_id", 1)],
        {"name": "tenant_kind_prompt", "unique": True},
    ),
    (NUMBER_ROUTES, [("tenant_id", 1)], {"name": "tenant_id"}),
)

DEFAULT_ROUTE_CACHE_ENTRIES = 10_000


def prompt_doc_id(tenant_id: str, kind: PromptKind, prompt_id: str) -> str:
    """The ``_id`` of a prompt document."""
    return f"{tenant_id}:{kind}:{prompt_id}"


class RouteCache(BoundedLru[str, str]):
    """The last known tenant of each number this replica routed, least recently used first out.

    Refreshed by every successful ``route_number``; read only when the store fails.  Bounded
    (``max_entries``) and per process: a number this replica never routed is not in it.
    """

    def __init__(self, max_entries: int = DEFAULT_ROUTE_CACHE_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        super().__init__(max_entries)
        self.max_entries = max_entries
        #: How many times a cached route was served because the store failed.
        self.served_during_outage = 0

    def forget(self, number: str) -> None:
        """Drop ``number`` (the store says it routes nowhere now)."""
        self.pop(number)


class MongoTenantSource:
    """A TenantSource reading the four collections of ``store``'s database."""

    def __init__(self, store: MongoStore, *, route_cache: RouteCache | None = None) -> None:
        self.store = store
        self.route_cache = route_cache if route_cache is not None else RouteCache()

    @property
    def load_problems(self) -> Sequence[str]:
        """Always empty: documents are judged at call time (and by ``tenants check``)."""
        return ()

    async def ensure_indexes(self) -> None:
        """Create the indexes of ``INDEXES`` (idempotent)."""
        await ensure_indexes(self.store)

    async def route_number(self, number: str) -> str | None:
        """The tenant the E.164 ``number`` routes to, or None.

        When the store fails, the last tenant this replica routed ``number`` to is returned;
        a number never routed here re-raises the InstructionsDBError.
        """
        try:
            doc = await self.store.run(
                "route_number",
                lambda db: db[NUMBER_ROUTES].find_one({"_id": number}, {"tenant_id": True}),
            )
        except InstructionsDBError:
            cached = self.route_cache.get(number)
            if cached is None:
                raise
            self.route_cache.served_during_outage += 1
            return cached
        tenant_id = doc.get("tenant_id") if doc is not None else None
        if isinstance(tenant_id, str) and tenant_id:
            self.route_cache.put(number, tenant_id)
            return tenant_id
        self.route_cache.forget(number)
        return None

    async def fetch_state(self, tenant_id: str) -> Mapping[str, Any] | None:
        """The tenant's state document without ``_id``, or None."""
        doc: Mapping[str, Any] | None = await self.store.run(
            "fetch_state",
            lambda db: db[TENANT_STATE].find_one({"_id": tenant_id}, {"_id": False}),
            tenant_id=tenant_id,
        )
        return doc

    async def fetch_config(self, tenant_id: str) -> Mapping[str, Any] | None:
        """The tenant's config document, or None when the tenant has none.

        A stored config that is not a document is served as ``{}``, as the file source does.
        """
        doc = await self.store.run(
            "fetch_config",
            lambda db: db[TENANTS].find_one({"_id": tenant_id}, {"config": True, "_id": False}),
            tenant_id=tenant_id,
        )
        config = doc.get("config") if doc is not None else None
        if config is None or isinstance(config, Mapping):
            return config
        return {}

    async def fetch_prompt(self, tenant_id: str, kind: PromptKind, prompt_id: str) -> str | None:
        """The prompt's text; ``""`` when it exists without a string text; None when unknown."""
        doc = await self.store.run(
            "fetch_prompt",
            lambda db: db[PROMPTS].find_one(
                {"tenant_id": tenant_id, "kind": kind, "prompt_id": prompt_id},
                {"text": True, "_id": False},
            ),
            tenant_id=tenant_id,
        )
        if doc is None:
            return None
        text = doc.get("text")
        return text if isinstance(text, str) else ""

    async def list_tenants(self) -> Sequence[str]:
        """Tenant ids in ``_id`` order."""
        docs = await self.store.run(
            "list_tenants",
            lambda db: list(db[TENANTS].find({}, {"_id": True}).sort("_id", 1)),
        )
        return [doc["_id"] for doc in docs if isinstance(doc.get("_id"), str)]

    async def list_routes(self) -> dict[str, str]:
        """Every route, ``{number: tenant_id}`` in number order (for ``tenants list``)."""
        docs = await self.store.run(
            "list_routes",
            lambda db: list(db[NUMBER_ROUTES].find({}).sort("_id", 1)),
        )
        return {
            doc["_id"]: doc["tenant_id"]
            for doc in docs
            if isinstance(doc.get("_id"), str) and isinstance(doc.get("tenant_id"), str)
        }


async def ensure_indexes(store: MongoStore) -> None:
    """Create every index of ``INDEXES`` in ``store``'s database (idempotent)."""

    def create(db: Any) -> None:
        for collection, keys, options in INDEXES:
            db[collection].create_index(keys, **options)

    await store.run("ensure_indexes", create)
