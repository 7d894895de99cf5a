"""MongoTenantSource: the file's documents, the same answers, and a route cache for outages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio.testing

from config.check import check_tenants
from config.errors import InstructionsDBError
from config.mongo import (
    MongoStore,
    MongoTenantSource,
    RouteCache,
    import_tenants,
    open_mongo_store,
)
from config.source import TenantSource
from config.tenants_file import FileTenantSource

OutputsOf = Callable[[TenantSource, FileTenantSource], Awaitable[dict[str, Any]]]
ACME_HOSTS = frozenset({"tools.acme.example"})

#: Documents the file source reads leniently: each must come back from MongoDB the same way.
ODD_DOCUMENT = {
    "tenants": [
        {"id": "bare"},  # nothing but an id
        {
            "id": "odd",
            "phone_numbers": ["+1 (800) 555-0150", "+18005550151"],
            "state": {"greeting_id": "g", "instruction_id": 7, "note": None},
            "config": "not a mapping",  # served as {}
            "prompts": {
                "greetings": {"g": 42, "h": None, "i": "  "},  # 42 and None: no usable text
                "instructions": None,
            },
        },
        {
            "id": "empty-state",
            "phone_numbers": ["+18005550151"],  # claimed twice: routes to neither
            "state": {},
            "config": {"schema_version": 1, "limits": {"max_concurrent_calls": True}},
            "prompts": {"instructions": {"x": "text", "y": ""}},
        },
    ]
}


@pytest.fixture
async def imported(store: MongoStore, example_file: FileTenantSource) -> MongoTenantSource:
    await import_tenants(store, example_file, dry_run=False)
    return MongoTenantSource(store)


async def test_ensure_indexes_creates_the_documented_indexes(
    store: MongoStore, mock_clock: trio.testing.MockClock
) -> None:
    """prompts gets a unique (tenant_id, kind, prompt_id) index, number_routes one on tenant_id."""
    source = MongoTenantSource(store)
    await source.ensure_indexes()
    await source.ensure_indexes()  # idempotent
    indexes = await store.run(
        "test",
        lambda db: {
            name: db[name].index_information() for name in ("prompts", "number_routes")
        },
    )
    prompt_index = indexes["prompts"]["tenant_kind_prompt"]
    assert prompt_index["key"] == [("tenant_id", 1), ("kind", 1), ("prompt_id", 1)]
    assert prompt_index["unique"] is True
    assert indexes["number_routes"]["tenant_id"]["key"] == [("tenant_id", 1)]


async def test_the_unique_prompt_index_is_enforced(
    store: MongoStore, mock_clock: trio.testing.MockClock
) -> None:
    """A second prompt with the same tenant, kind and id is refused: db_error, DuplicateKeyError."""
    await MongoTenantSource(store).ensure_indexes()
    prompt = {"tenant_id": "t", "kind": "greeting", "prompt_id": "p", "text": "hi"}
    await store.run("test", lambda db: db.prompts.insert_one({"_id": "t:greeting:p", **prompt}))
    with pytest.raises(InstructionsDBError) as info:
        await store.run("import", lambda db: db.prompts.insert_one({"_id": "other", **prompt}))
    assert info.value.reason == "db_error"
    assert info.value.context == {"operation": "import", "cause_type": "DuplicateKeyError"}


async def test_example_file_gives_the_same_answers_from_mongodb(
    imported: MongoTenantSource,
    example_file: FileTenantSource,
    outputs_of: OutputsOf,
    mock_clock: trio.testing.MockClock,
) -> None:
    """Every TenantSource method answers the same from MongoDB as from the file it was fed."""
    assert await outputs_of(imported, example_file) == await outputs_of(example_file, example_file)


async def test_leniently_read_documents_give_the_same_answers(
    store: MongoStore, outputs_of: OutputsOf, mock_clock: trio.testing.MockClock
) -> None:
    """Odd documents (no text, non-mapping config, empty state, shared number) survive as read."""
    odd_file = FileTenantSource.from_document(ODD_DOCUMENT)
    await import_tenants(store, odd_file, dry_run=False)
    source = MongoTenantSource(store)
    mongo, file = await outputs_of(source, odd_file), await outputs_of(odd_file, odd_file)
    assert mongo == file
    assert file["fetch_prompt"][("odd", "greeting", "g")] == ""
    assert file["fetch_config"]["odd"] == {}
    assert file["route_number"]["+18005550150"] == "odd"
    assert await source.route_number("+18005550151") is None  # claimed twice


async def test_check_finds_the_same_problems_in_mongodb(
    imported: MongoTenantSource,
    example_file: FileTenantSource,
    mock_clock: trio.testing.MockClock,
) -> None:
    """tenants check over MongoDB reports what it reports over the file (tenants in _id order)."""
    from_mongo = await check_tenants(imported, allowed_hosts=ACME_HOSTS, allow_plain_http=False)
    from_file = await check_tenants(example_file, allowed_hosts=ACME_HOSTS, allow_plain_http=False)
    assert len(from_file) == 4
    assert sorted(from_mongo, key=repr) == sorted(from_file, key=repr)


async def test_documents_come_back_without_their_id(
    imported: MongoTenantSource, mock_clock: trio.testing.MockClock
) -> None:
    """The state document is the file's mapping: no _id, nothing added."""
    assert await imported.fetch_state("acme-corp") == {
        "greeting_id": "greeting_main",
        "instruction_id": "inst_main",
    }
    assert imported.load_problems == ()


async def test_listings_are_in_id_order(
    imported: MongoTenantSource, mock_clock: trio.testing.MockClock
) -> None:
    """list_tenants and list_routes are sorted, whatever the file's order."""
    assert await imported.list_tenants() == [
        "acme-corp", "globex", "hooli", "initech", "piedpiper", "umbrella"
    ]
    routes = await imported.list_routes()
    assert list(routes) == sorted(routes)
    assert routes["+18005551212"] == "acme-corp"


def test_route_cache_drops_the_least_recently_used_number() -> None:
    """The cache is bounded: past max_entries, the number used longest ago goes first."""
    cache = RouteCache(max_entries=2)
    cache.put("+18005550001", "a")
    cache.put("+18005550002", "b")
    assert cache.get("+18005550001") == "a"  # now the most recently used
    cache.put("+18005550003", "c")
    assert len(cache) == 2
    assert cache.get("+18005550002") is None
    assert cache.get("+18005550001") == "a"
    assert RouteCache().max_entries == 10_000


async def test_routing_refreshes_the_cache(
    imported: MongoTenantSource, mock_clock: trio.testing.MockClock
) -> None:
    """A routed number is remembered; a number the store no longer routes is forgotten."""
    assert await imported.route_number("+18005550100") == "globex"
    assert imported.route_cache.get("+18005550100") == "globex"
    await imported.store.run(
        "test", lambda db: db.number_routes.delete_one({"_id": "+18005550100"})
    )
    assert await imported.route_number("+18005550100") is None
    assert imported.route_cache.get("+18005550100") is None


async def test_during_an_outage_a_known_number_still_reaches_its_tenant(
    imported: MongoTenantSource, dead_uri: str, mock_clock: trio.testing.MockClock
) -> None:
    """With the store down, a number routed before answers from the cache; others re-raise."""
    cache = imported.route_cache
    assert await imported.route_number("+18005551212") == "acme-corp"
    async with open_mongo_store(dead_uri, timeout_ms=100) as dead_store:
        down = MongoTenantSource(dead_store, route_cache=cache)
        assert await down.route_number("+18005551212") == "acme-corp"
        assert cache.served_during_outage == 1
        with pytest.raises(InstructionsDBError) as info:
            await down.route_number("+18005550100")  # never routed by this replica
        assert info.value.reason == "db_timeout"
        assert info.value.context["operation"] == "route_number"
        with pytest.raises(InstructionsDBError) as info:
            await down.fetch_state("acme-corp")  # the call then takes the downtime prompts
        assert info.value.tenant_id == "acme-corp"
        assert info.value.context["operation"] == "fetch_state"
