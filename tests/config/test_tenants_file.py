"""FileTenantSource: lenient loading, routing, raw documents and load problems."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from config.errors import TenantNotConfiguredError, TenantsFileError
from config.resolve import read_state
from config.source import TenantSource
from config.tenants_file import FileTenantSource

Load = Callable[[str], FileTenantSource]


async def test_example_file_loads_every_tenant(example_source: FileTenantSource) -> None:
    """The example file loads six tenants, in file order, with no load problem."""
    assert example_source.load_problems == ()
    assert await example_source.list_tenants() == [
        "acme-corp", "globex", "initech", "umbrella", "hooli", "piedpiper",
    ]


@pytest.mark.parametrize(
    ("number", "tenant"),
    [
        ("+18005551212", "acme-corp"),
        ("+18005550100", "globex"),
        ("+18005550101", "initech"),
        ("+18005550102", "umbrella"),
        ("+18005550103", "hooli"),
        ("+18005550104", "piedpiper"),
        ("+18005550199", None),
    ],
)
async def test_example_routes(example_source: FileTenantSource, number: str, tenant: str | None) -> None:
    """Each example number routes to its tenant; +18005550199 routes nowhere."""
    assert await example_source.route_number(number) == tenant


async def test_file_source_is_a_tenant_source(example_source: FileTenantSource) -> None:
    """FileTenantSource satisfies the TenantSource protocol."""
    source: TenantSource = example_source
    assert await source.fetch_config("globex") == {
        "schema_version": 1, "limits": {"max_concurrent_calls": 1}, "tools": [{"kind": "end_call"}],
    }


async def test_documents_are_served_raw(example_source: FileTenantSource) -> None:
    """State and config come back as written, broken ones included; unknown tenants get None."""
    assert await example_source.fetch_state("acme-corp") == {
        "greeting_id": "greeting_main", "instruction_id": "inst_main",
    }
    assert await example_source.fetch_state("initech") is None
    hooli = await example_source.fetch_config("hooli")
    assert hooli is not None
    assert hooli["limits"] == {"max_concurrent_calls": "lots"}
    assert await example_source.fetch_state("nobody") is None
    assert await example_source.fetch_config("nobody") is None


async def test_prompts_found_missing_and_empty(tenants_file: Load) -> None:
    """A known prompt gives its text, an unknown one None, one without text ""."""
    source = tenants_file("""
        tenants:
          - id: t1
            prompts:
              greetings: {hello: "Hi there.", blank: "", nothing: null, number: 42}
              instructions: {main: "Be kind."}
    """)
    assert await source.fetch_prompt("t1", "greeting", "hello") == "Hi there."
    assert await source.fetch_prompt("t1", "instruction", "main") == "Be kind."
    assert await source.fetch_prompt("t1", "greeting", "main") is None
    assert await source.fetch_prompt("t1", "instruction", "hello") is None
    assert await source.fetch_prompt("t1", "greeting", "blank") == ""
    assert await source.fetch_prompt("t1", "greeting", "nothing") == ""
    assert await source.fetch_prompt("t1", "greeting", "number") == ""
    assert await source.fetch_prompt("nobody", "greeting", "hello") is None


async def test_numbers_are_normalised_to_e164(tenants_file: Load) -> None:
    """Formatted and national numbers in the file route by their E.164 form."""
    source = tenants_file("""
        tenants:
          - id: t1
            phone_numbers: ["+1 (800) 555-1212", "800-555-0100", "+18005551212"]
    """)
    assert source.load_problems == ()
    assert source.routes == {"+18005551212": "t1", "+18005550100": "t1"}


def test_national_numbers_use_the_given_region(tmp_path: Path) -> None:
    """National numbers in the file are read in the region the source is loaded with."""
    path = tmp_path / "tenants.yaml"
    path.write_text('tenants: [{id: uk, phone_numbers: ["020 7946 0958"]}]\n')
    assert FileTenantSource.load(path, default_region="GB").routes == {"+442079460958": "uk"}


async def test_entries_that_cannot_be_tenants_are_skipped_and_reported(tenants_file: Load) -> None:
    """Non-mappings, missing ids and duplicate ids are skipped; each is a load problem."""
    source = tenants_file("""
        colour: blue
        tenants:
          - just a string
          - phone_numbers: ["+18005550001"]
          - id: 42
          - id: twin
            phone_numbers: ["+18005550002"]
          - id: good
            phone_numbers: ["+18005550003"]
          - id: twin
    """)
    assert source.load_problems == (
        "unknown top-level key 'colour' ignored",
        "tenants[0]: not a mapping; skipped",
        "tenants[1]: no string 'id'; skipped",
        "tenants[2]: no string 'id'; skipped",
        "tenants[3], tenants[5]: duplicate id 'twin'; all of them skipped",
    )
    assert await source.list_tenants() == ["good"]
    assert source.routes == {"+18005550003": "good"}


async def test_unroutable_numbers_are_reported(tenants_file: Load) -> None:
    """Bad, unquoted and shared numbers are not routed, and each is a load problem."""
    source = tenants_file("""
        tenants:
          - id: a
            phone_numbers: ["not a number", +18005550010, "+18005550011", "+18005550012"]
            phone_number: "+18005550013"
          - id: b
            phone_numbers: ["+1 800 555 0011"]
          - id: c
            phone_numbers: "+18005550014"
    """)
    assert source.load_problems == (
        "tenants[0] (a): unknown key 'phone_number' ignored",
        "tenants[0] (a): 'not a number' is not a phone number; not routed",
        "tenants[0] (a): phone_numbers[1] is not a string (quote numbers in YAML); not routed",
        "tenants[2] (c): phone_numbers is not a list; no number routed",
        "+18005550011 is claimed by tenants 'a', 'b'; not routed",
    )
    assert source.routes == {"+18005550012": "a"}
    assert await source.list_tenants() == ["a", "b", "c"]


async def test_broken_documents_stay_loaded(tenants_file: Load) -> None:
    """A tenant with broken state and prompts stays loaded, so its calls fail at call time."""
    source = tenants_file("""
        tenants:
          - id: broken
            phone_numbers: ["+18005550020"]
            state: "greeting_main"
            config: [1, 2]
            prompts:
              greeting: {hello: "Hi"}
              instructions: "Be kind."
    """)
    assert source.load_problems == (
        "tenants[0] (broken): state is not a mapping; it is served as an empty state document",
        "tenants[0] (broken): config is not a mapping; it is served as an empty config document",
        "tenants[0] (broken): unknown key 'greeting' in prompts ignored",
        "tenants[0] (broken): prompts.instructions is not a mapping; none of them loaded",
    )
    assert await source.route_number("+18005550020") == "broken"
    assert await source.fetch_config("broken") == {}
    with pytest.raises(TenantNotConfiguredError) as info:
        read_state("broken", await source.fetch_state("broken"))
    assert info.value.reason == "state_doc_invalid"


@pytest.mark.parametrize(
    "text",
    ["", "- id: a\n", "tenants: {id: a}\n", "tenants:\n", "other: []\n", "just text\n"],
)
def test_wrong_top_level_shape_is_fatal(tmp_path: Path, text: str) -> None:
    """A file without a top-level mapping holding a tenants list is unusable."""
    path = tmp_path / "tenants.yaml"
    path.write_text(text)
    with pytest.raises(TenantsFileError) as info:
        FileTenantSource.load(path)
    assert info.value.problems == [f"{path}: expected a mapping with a 'tenants' list at the top"]


def test_invalid_yaml_is_fatal(tmp_path: Path) -> None:
    """A file that is not YAML is unusable; the problem says where."""
    path = tmp_path / "tenants.yaml"
    path.write_text("tenants:\n  - id: a\n   bad: [\n")
    with pytest.raises(TenantsFileError) as info:
        FileTenantSource.load(path)
    [problem] = info.value.problems
    assert problem.startswith(f"{path}: not valid YAML: ")
    assert "line" in problem


def test_unreadable_file_is_fatal(tmp_path: Path) -> None:
    """A missing file, or one that is not UTF-8, is unusable."""
    missing = tmp_path / "missing.yaml"
    with pytest.raises(TenantsFileError) as info:
        FileTenantSource.load(missing)
    assert info.value.problems == [f"{missing}: cannot read the file (No such file or directory)"]
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"tenants: [\xff\xfe]")
    with pytest.raises(TenantsFileError) as info:
        FileTenantSource.load(binary)
    assert info.value.problems == [f"{binary}: the file is not UTF-8 text"]


def test_from_document_builds_a_source_without_a_file() -> None:
    """A parsed document can be turned into a source directly."""
    source = FileTenantSource.from_document(
        {"tenants": [{"id": "t", "phone_numbers": ["+18005550030"]}]}, origin="inline"
    )
    assert (source.origin, source.routes) == ("inline", {"+18005550030": "t"})
