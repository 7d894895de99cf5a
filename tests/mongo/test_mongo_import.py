"""import_tenants: idempotent upserts, the file's truth for its tenants, and an honest dry run."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import trio.testing
import yaml

import config
from config.errors import InstructionsDBError
from config.mongo import (
    COLLECTIONS,
    CollectionCounts,
    ImportReport,
    MongoStore,
    MongoTenantSource,
    import_tenants,
    open_mongo_store,
)
from config.mongo_import import same_document
from config.tenants_file import FileTenantSource

EXAMPLE_TENANTS = Path(config.__file__).parent / "examples" / "tenants.yaml"


def example_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(EXAMPLE_TENANTS.read_text(encoding="utf-8"))
    return document


def file_of(document: dict[str, Any]) -> FileTenantSource:
    return FileTenantSource.from_document(document, origin="test.yaml")


def tenant(document: dict[str, Any], tenant_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in document["tenants"] if t["id"] == tenant_id)
    return found


async def contents(store: MongoStore) -> dict[str, list[dict[str, Any]]]:
    """Every document of the four collections, in _id order."""
    return await store.run(
        "test", lambda db: {name: list(db[name].find().sort("_id", 1)) for name in COLLECTIONS}
    )


def counts(report: ImportReport) -> dict[str, tuple[int, int, int, int]]:
    return {
        name: (c.inserted, c.updated, c.unchanged, c.deleted)
        for name, c in report.collections().items()
    }


FIRST_IMPORT = {
    "tenants": (6, 0, 0, 0),
    "tenant_state": (5, 0, 0, 0),  # initech has no state
    "prompts": (13, 0, 0, 0),
    "number_routes": (6, 0, 0, 0),
}
UNCHANGED = {
    "tenants": (0, 0, 6, 0),
    "tenant_state": (0, 0, 5, 0),
    "prompts": (0, 0, 13, 0),
    "number_routes": (0, 0, 6, 0),
}


async def test_first_import_inserts_every_document(
    store: MongoStore, example_file: FileTenantSource, mock_clock: trio.testing.MockClock
) -> None:
    """Every tenant, state, prompt and routed number of the file is inserted under its _id."""
    report = await import_tenants(store, example_file, dry_run=False)
    assert counts(report) == FIRST_IMPORT
    assert report.changed
    assert report.skipped == ()
    assert report.dry_run is False
    stored = await contents(store)
    assert stored["number_routes"][0] == {"_id": "+18005550100", "tenant_id": "globex"}
    assert {"_id": "globex:greeting:welcome", "tenant_id": "globex", "kind": "greeting",
            "prompt_id": "welcome",
            "text": "Globex reception, good day. Who would you like to reach?"} in stored["prompts"]
    assert {"_id": "initech", "config": tenant(example_document(), "initech")["config"]} in (
        stored["tenants"]
    )


async def test_a_second_import_changes_nothing(
    store: MongoStore, example_file: FileTenantSource, mock_clock: trio.testing.MockClock
) -> None:
    """Running the same import twice: the second report is all unchanged, the data identical."""
    await import_tenants(store, example_file, dry_run=False)
    before = await contents(store)
    report = await import_tenants(store, example_file, dry_run=False)
    assert counts(report) == UNCHANGED
    assert not report.changed
    assert await contents(store) == before


async def test_a_dry_run_reports_the_same_and_writes_nothing(
    store: MongoStore, example_file: FileTenantSource, mock_clock: trio.testing.MockClock
) -> None:
    """dry_run gives the counts the real import then gives, without touching the database."""
    dry = await import_tenants(store, example_file, dry_run=True)
    assert dry.dry_run
    assert all(not docs for docs in (await contents(store)).values())
    real = await import_tenants(store, example_file, dry_run=False)
    assert counts(dry) == counts(real) == FIRST_IMPORT
    index_names = await store.run("test", lambda db: db.prompts.index_information())
    assert "tenant_kind_prompt" in index_names  # a real import creates the indexes


async def test_changes_to_a_file_are_updated_and_deleted(
    store: MongoStore, example_file: FileTenantSource, mock_clock: trio.testing.MockClock
) -> None:
    """Edited documents are replaced; prompts, states and numbers the file dropped are deleted."""
    await import_tenants(store, example_file, dry_run=False)
    document = example_document()
    acme = tenant(document, "acme-corp")
    del acme["prompts"]["greetings"]["greeting_holidays"]  # dropped prompt
    acme["prompts"]["instructions"]["inst_main"] = "Be brief."  # edited prompt
    acme["phone_numbers"] = ["+18005550199"]  # a new number instead of the old one
    del tenant(document, "globex")["state"]  # globex has no state any more
    tenant(document, "hooli")["config"]["limits"]["max_concurrent_calls"] = 5  # edited config
    edited = file_of(document)

    dry = await import_tenants(store, edited, dry_run=True)
    before = await contents(store)
    real = await import_tenants(store, edited, dry_run=False)
    assert counts(dry) == counts(real) == {
        "tenants": (0, 1, 5, 0),
        "tenant_state": (0, 0, 4, 1),
        "prompts": (0, 1, 11, 1),
        "number_routes": (1, 0, 5, 1),
    }
    assert before != await contents(store)
    source = MongoTenantSource(store)
    assert await source.route_number("+18005551212") is None
    assert await source.route_number("+18005550199") == "acme-corp"
    assert await source.fetch_prompt("acme-corp", "greeting", "greeting_holidays") is None
    assert await source.fetch_prompt("acme-corp", "instruction", "inst_main") == "Be brief."
    assert await source.fetch_state("globex") is None
    assert counts(await import_tenants(store, edited, dry_run=False)) == {
        "tenants": (0, 0, 6, 0),
        "tenant_state": (0, 0, 4, 0),
        "prompts": (0, 0, 12, 0),
        "number_routes": (0, 0, 6, 0),
    }


async def test_tenants_not_in_the_file_are_left_alone(
    store: MongoStore, example_file: FileTenantSource, mock_clock: trio.testing.MockClock
) -> None:
    """A file of one tenant updates that tenant only; a number it claims is moved to it."""
    await import_tenants(store, example_file, dry_run=False)
    document = example_document()
    globex = tenant(document, "globex")
    globex["phone_numbers"] = ["+18005550100", "+18005550101"]  # initech's number
    report = await import_tenants(store, file_of({"tenants": [globex]}), dry_run=False)
    assert counts(report) == {
        "tenants": (0, 0, 1, 0),
        "tenant_state": (0, 0, 1, 0),
        "prompts": (0, 0, 2, 0),
        "number_routes": (0, 1, 1, 0),
    }
    source = MongoTenantSource(store)
    assert await source.route_number("+18005550101") == "globex"
    assert await source.list_tenants() == [
        "acme-corp", "globex", "hooli", "initech", "piedpiper", "umbrella"
    ]
    assert await source.fetch_state("umbrella") is not None


async def test_a_number_claimed_twice_stops_routing(
    store: MongoStore, example_file: FileTenantSource, mock_clock: trio.testing.MockClock
) -> None:
    """When the file gives a tenant's number to a second tenant too, its route is deleted."""
    await import_tenants(store, example_file, dry_run=False)
    document = example_document()
    tenant(document, "globex")["phone_numbers"].append("+18005551212")  # acme-corp's
    report = await import_tenants(store, file_of(document), dry_run=False)
    assert report.number_routes == CollectionCounts(unchanged=5, deleted=1)
    assert await MongoTenantSource(store).route_number("+18005551212") is None


async def test_a_change_of_value_type_is_an_update(
    store: MongoStore, example_file: FileTenantSource, mock_clock: trio.testing.MockClock
) -> None:
    """10 -> 10.0 or True is a change (strict validation tells them apart), not 'unchanged'."""
    await import_tenants(store, example_file, dry_run=False)
    for value in (10.0, True):
        document = example_document()
        tenant(document, "acme-corp")["config"]["limits"]["max_concurrent_calls"] = value
        report = await import_tenants(store, file_of(document), dry_run=False)
        assert report.tenants == CollectionCounts(updated=1, unchanged=5)
        config = await MongoTenantSource(store).fetch_config("acme-corp")
        assert config is not None
        assert type(config["limits"]["max_concurrent_calls"]) is type(value)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({"a": 1, "b": [1, "x"]}, {"b": [1, "x"], "a": 1}, True),
        ({"a": 1}, {"a": 1.0}, False),
        ({"a": 1}, {"a": True}, False),
        ({"a": [1, 2]}, {"a": [2, 1]}, False),
        ({"a": {"b": None}}, {"a": {}}, False),
    ],
)
def test_same_document_compares_types_not_just_values(a: Any, b: Any, same: bool) -> None:
    """Key order does not matter; list order and value types do."""
    assert same_document(a, b) is same


async def test_a_tenant_bson_cannot_hold_is_skipped(
    store: MongoStore, mock_clock: trio.testing.MockClock
) -> None:
    """A YAML date in a config cannot be stored: that tenant is skipped whole, the rest imported."""
    document = yaml.safe_load(
        """
        tenants:
          - id: dated
            phone_numbers: ["+18005550160"]
            state: {greeting_id: g, instruction_id: i}
            config: {schema_version: 1, since: 2024-01-01}
          - id: fine
            phone_numbers: ["+18005550161"]
            config: {schema_version: 1}
        """
    )
    report = await import_tenants(store, file_of(copy.deepcopy(document)), dry_run=False)
    (skipped,) = report.skipped
    assert skipped.startswith("dated: its tenants document 'dated' cannot be stored in MongoDB (")
    assert "datetime.date(2024, 1, 1)" in skipped
    assert skipped.endswith("; tenant not imported")
    assert report.lines()[-1] == f"skipped: {report.skipped[0]}"
    assert counts(report) == {
        "tenants": (1, 0, 0, 0),
        "tenant_state": (0, 0, 0, 0),
        "prompts": (0, 0, 0, 0),
        "number_routes": (1, 0, 0, 0),
    }
    assert await MongoTenantSource(store).list_tenants() == ["fine"]


async def test_report_lines_name_every_collection(
    store: MongoStore, example_file: FileTenantSource, mock_clock: trio.testing.MockClock
) -> None:
    """The report renders one line per collection, in write order."""
    report = await import_tenants(store, example_file, dry_run=True)
    assert report.lines() == [
        "tenants: 6 inserted, 0 updated, 0 unchanged, 0 deleted",
        "tenant_state: 5 inserted, 0 updated, 0 unchanged, 0 deleted",
        "prompts: 13 inserted, 0 updated, 0 unchanged, 0 deleted",
        "number_routes: 6 inserted, 0 updated, 0 unchanged, 0 deleted",
    ]


async def test_an_import_into_a_dead_store_fails_with_its_reason(
    example_file: FileTenantSource, dead_uri: str, mock_clock: trio.testing.MockClock
) -> None:
    """An import that cannot reach MongoDB raises InstructionsDBError (db_timeout, import)."""
    async with open_mongo_store(dead_uri, timeout_ms=100) as store:
        with pytest.raises(InstructionsDBError) as info:
            await import_tenants(store, example_file, dry_run=True)
    assert info.value.reason == "db_timeout"
    assert info.value.context["operation"] == "import"
