"""``import_tenants``: make MongoDB hold what a tenants file holds, for the tenants it lists.

The file is the truth for the tenants it names, and only for them (a file of one tenant updates
that tenant and leaves the others alone).  For each such tenant the import writes, with
``replace_one(..., upsert=True)`` keyed by ``_id``, its ``tenants`` document, its ``tenant_state``
(deleted when the file gives none), each of its prompts (prompts of the tenant missing from the
file are deleted) and each number it routes (numbers routed to it that the file no longer gives
it are deleted; a number the file gives it is taken from whichever tenant had it).

A document already equal to the file's (same keys, values and value types) is left alone, so
a second run reports everything ``unchanged``.  ``dry_run`` reads the same documents and
reports the same counts without writing.  A tenant with a document BSON cannot hold (a date, a
non-string key, an int beyond 64 bits) is skipped whole and listed in ``ImportReport.skipped``.

Writes are ordered so that a call arriving mid-import finds a consistent tenant: tenants and
prompts first, then states, then routes; deletions last, routes first.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import bson
from attrs import frozen
from bson.errors import BSONError

from .mongo_source import (
    NUMBER_ROUTES,
    PROMPTS,
    TENANT_STATE,
    TENANTS,
    ensure_indexes,
    prompt_doc_id,
)
from .mongo_store import MongoStore
from .tenants_file import FileTenantSource, TenantDocuments

_Doc = dict[str, Any]


@frozen(kw_only=True)
class CollectionCounts:
    """What an import did (or would do) to one collection's documents."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    @property
    def changed(self) -> int:
        return self.inserted + self.updated + self.deleted


@frozen(kw_only=True)
class ImportReport:
    """Counts per collection; ``skipped`` lists tenants not imported, one line each."""

    dry_run: bool
    tenants: CollectionCounts
    tenant_state: CollectionCounts
    prompts: CollectionCounts
    number_routes: CollectionCounts
    skipped: tuple[str, ...] = ()

    def collections(self) -> dict[str, CollectionCounts]:
        """The counts by collection name, in write order."""
        return {
            TENANTS: self.tenants,
            TENANT_STATE: self.tenant_state,
            PROMPTS: self.prompts,
            NUMBER_ROUTES: self.number_routes,
        }

    @property
    def changed(self) -> bool:
        return any(counts.changed for counts in self.collections().values())

    def lines(self) -> list[str]:
        """One human line per collection, then one per skipped tenant."""
        lines = [
            f"{name}: {c.inserted} inserted, {c.updated} updated, {c.unchanged} unchanged, "
            f"{c.deleted} deleted"
            for name, c in self.collections().items()
        ]
        return lines + [f"skipped: {line}" for line in self.skipped]


@frozen(kw_only=True)
class _Plan:
    """One collection: the documents wanted, the ones found in scope, and what to do."""

    collection: str
    wanted: dict[str, _Doc]
    found: dict[str, _Doc]

    def upserts(self) -> list[tuple[str, _Doc]]:
        return [
            (doc_id, doc)
            for doc_id, doc in self.wanted.items()
            if doc_id not in self.found or not same_document(self.found[doc_id], doc)
        ]

    def deletions(self) -> list[str]:
        return [doc_id for doc_id in self.found if doc_id not in self.wanted]

    def counts(self) -> CollectionCounts:
        inserted = sum(doc_id not in self.found for doc_id in self.wanted)
        changed = len(self.upserts())
        return CollectionCounts(
            inserted=inserted,
            updated=changed - inserted,
            unchanged=len(self.wanted) - changed,
            deleted=len(self.deletions()),
        )


async def import_tenants(
    store: MongoStore, file_source: FileTenantSource, *, dry_run: bool
) -> ImportReport:
    """Upsert every document of ``file_source`` into ``store``; see the module docstring.

    Idempotent.  Creates the indexes first (not in a dry run).  Raises InstructionsDBError
    (operation ``import``, or ``ensure_indexes``); writes done before a failure stay done, and
    running the import again completes it.
    """
    wanted: dict[str, dict[str, _Doc]] = {name: {} for name in (TENANTS, TENANT_STATE, PROMPTS)}
    skipped: list[str] = []
    tenant_ids: list[str] = []
    for tenant in file_source.tenants.values():
        docs = _tenant_documents(tenant)
        problem = _unstorable(tenant, docs) or _clash(docs, wanted)
        if problem is not None:
            skipped.append(f"{tenant.tenant_id}: {problem}; tenant not imported")
            continue
        tenant_ids.append(tenant.tenant_id)
        for collection, doc in docs:
            wanted[collection][doc["_id"]] = doc
    imported = set(tenant_ids)
    wanted[NUMBER_ROUTES] = {
        number: {"_id": number, "tenant_id": tenant_id}
        for number, tenant_id in file_source.routes.items()
        if tenant_id in imported
    }
    scopes: dict[str, Mapping[str, Any]] = {
        TENANTS: {"_id": {"$in": tenant_ids}},
        TENANT_STATE: {"_id": {"$in": tenant_ids}},
        PROMPTS: {"$or": [
            {"tenant_id": {"$in": tenant_ids}}, {"_id": {"$in": list(wanted[PROMPTS])}}
        ]},
        NUMBER_ROUTES: {"$or": [
            {"tenant_id": {"$in": tenant_ids}}, {"_id": {"$in": list(wanted[NUMBER_ROUTES])}}
        ]},
    }
    plans = {}
    for collection, scope in scopes.items():
        found = await store.run("import", partial(_find, collection, scope))
        plans[collection] = _Plan(
            collection=collection,
            wanted=wanted[collection],
            found={doc["_id"]: doc for doc in found},
        )
    if not dry_run:
        await ensure_indexes(store)
        await _write(store, plans)
    return ImportReport(
        dry_run=dry_run,
        tenants=plans[TENANTS].counts(),
        tenant_state=plans[TENANT_STATE].counts(),
        prompts=plans[PROMPTS].counts(),
        number_routes=plans[NUMBER_ROUTES].counts(),
        skipped=tuple(skipped),
    )


async def _write(store: MongoStore, plans: Mapping[str, _Plan]) -> None:
    for collection in (TENANTS, PROMPTS, TENANT_STATE, NUMBER_ROUTES):
        for doc_id, doc in plans[collection].upserts():
            await store.run("import", partial(_replace, collection, doc_id, doc))
    for collection in (NUMBER_ROUTES, TENANT_STATE, PROMPTS):
        doomed = plans[collection].deletions()
        if doomed:
            await store.run("import", partial(_delete, collection, doomed))


# Run in the store's worker thread, with the database as the last argument.
def _find(collection: str, scope: Mapping[str, Any], db: Any) -> list[_Doc]:
    return list(db[collection].find(scope))


def _replace(collection: str, doc_id: str, doc: _Doc, db: Any) -> None:
    db[collection].replace_one({"_id": doc_id}, doc, upsert=True)


def _delete(collection: str, doc_ids: list[str], db: Any) -> None:
    db[collection].delete_many({"_id": {"$in": doc_ids}})


def _tenant_documents(tenant: TenantDocuments) -> list[tuple[str, _Doc]]:
    """The documents the file gives one tenant, as ``(collection, document)``."""
    tenant_id = tenant.tenant_id
    tenant_doc: _Doc = {"_id": tenant_id}
    if tenant.config is not None:
        tenant_doc["config"] = dict(tenant.config)
    docs: list[tuple[str, _Doc]] = [(TENANTS, tenant_doc)]
    if tenant.state is not None:
        docs.append((TENANT_STATE, {"_id": tenant_id, **tenant.state}))
    for kind, texts in tenant.prompts.items():
        for prompt_id, text in texts.items():
            doc_id = prompt_doc_id(tenant_id, kind, prompt_id)
            docs.append((PROMPTS, {
                "_id": doc_id,
                "tenant_id": tenant_id,
                "kind": kind,
                "prompt_id": prompt_id,
                "text": text if isinstance(text, str) else None,
            }))
    return docs


def _unstorable(tenant: TenantDocuments, docs: list[tuple[str, _Doc]]) -> str | None:
    """Why the tenant's documents cannot be stored as they are, or None."""
    if tenant.state is not None and "_id" in tenant.state:
        return "its state has an _id key"
    for collection, doc in docs:
        try:
            bson.encode(doc)
        except (BSONError, OverflowError) as exc:
            return f"its {collection} document {doc['_id']!r} cannot be stored in MongoDB ({exc})"
    return None


def _clash(docs: list[tuple[str, _Doc]], wanted: Mapping[str, Mapping[str, _Doc]]) -> str | None:
    """A document ``_id`` an earlier tenant's document already takes (prompt ids with ':')."""
    for collection, doc in docs:
        if doc["_id"] in wanted[collection]:
            other = wanted[collection][doc["_id"]].get("tenant_id")
            return f"its {collection} _id {doc['_id']!r} is also tenant {other!r}'s"
    return None


def same_document(a: object, b: object) -> bool:
    """Deep equality that also compares value types (``1``, ``1.0`` and ``True`` differ)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_document(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(map(same_document, a, b))
    return _kind(a) == _kind(b) and a == b


def _kind(value: object) -> type:
    for kind in (bool, int, float, str, bytes):
        if isinstance(value, kind):
            return kind
    return type(value)
