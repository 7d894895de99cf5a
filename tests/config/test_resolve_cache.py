"""What config.resolve remembers between calls: the same answers, never a stale one, bounded."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import mongomock
import pytest
import trio.testing

from config.convert import structure_config
from config.errors import (
    ConfigStructureError,
    TenantConfigParseError,
    TenantResolutionError,
    ToolBuildError,
)
from config.memo import CONFIG_MEMO, DEFAULT_MAX_TENANTS, TOOLS_MEMO, TenantMemo
from config.models import HttpTool
from config.mongo import MongoStore, MongoTenantSource, import_tenants
from config.phone import CACHED_TO_CHARS, TO_CACHE_ENTRIES, dialed_number, to_cache_info
from config.resolve import build_tools, parse_config, resolve_tenant
from config.tenants_file import FileTenantSource

Load = Callable[[str], FileTenantSource]
ACME_HOSTS = frozenset({"tools.acme.example"})

TENANT = """
tenants:
  - id: acme-corp
    phone_numbers: ["+18005551212"]
    config:
      schema_version: 1
      model: {model}
      tools:
        - kind: http
          name: lookup_order
          description: Look up an order.
          url: https://{host}/orders
"""


def to(value: str) -> list[dict[str, str]]:
    return [{"name": "To", "value": value}]


async def test_cached_config_equals_a_fresh_parse(example_source: FileTenantSource) -> None:
    """A tenant's config parsed again is the very same config an uncached parse gives."""
    for tenant_id in ("acme-corp", "globex", "piedpiper"):
        raw = await example_source.fetch_config(tenant_id)
        first = parse_config(tenant_id, raw)
        assert parse_config(tenant_id, raw) is first
        assert first == structure_config(raw)


async def test_cached_tools_equal_freshly_built_ones(example_source: FileTenantSource) -> None:
    """Built tools come back equal to a build from an equal config, and announce the same."""
    raw = await example_source.fetch_config("acme-corp")
    config = parse_config("acme-corp", raw)
    tools = build_tools("acme-corp", config, allowed_hosts=ACME_HOSTS, allow_plain_http=False)
    again = build_tools("acme-corp", config, allowed_hosts=ACME_HOSTS, allow_plain_http=False)
    fresh = build_tools(
        "acme-corp", structure_config(raw), allowed_hosts=ACME_HOSTS, allow_plain_http=False
    )
    assert again is tools
    assert fresh == tools
    assert [tool.to_openai() for tool in again] == [tool.to_openai() for tool in fresh]


def test_a_config_changed_in_place_is_parsed_again() -> None:
    """Changing a document in place, even only a value's type, gives the new answer."""
    raw: dict[str, Any] = {"schema_version": 1, "limits": {"max_concurrent_calls": 2}}
    assert parse_config("t", raw).limits.max_concurrent_calls == 2
    raw["limits"]["max_concurrent_calls"] = 3
    assert parse_config("t", raw).limits.max_concurrent_calls == 3
    for value in (True, 3.0):  # == 3, but not an int: refused
        raw["limits"]["max_concurrent_calls"] = value
        with pytest.raises(TenantConfigParseError) as info:
            parse_config("t", raw)
        assert info.value.context == {
            "errors": ["invalid value for type, expected int @ config.limits.max_concurrent_calls"]
        }
    raw["limits"]["max_concurrent_calls"] = 3
    assert parse_config("t", raw).limits.max_concurrent_calls == 3


def test_key_order_is_part_of_a_document() -> None:
    """The same tool schema with its properties in another order is announced in that order."""
    hosts = frozenset({"h.example"})
    announced = []
    for names in (["a", "b"], ["b", "a"]):
        properties = {name: {"type": "string"} for name in names}
        raw = {
            "schema_version": 1,
            "tools": [
                {
                    "kind": "http",
                    "name": "x",
                    "description": "X.",
                    "url": "https://h.example/",
                    "parameters": {"type": "object", "properties": properties},
                }
            ],
        }
        config = parse_config("t", raw)
        [tool] = build_tools("t", config, allowed_hosts=hosts, allow_plain_http=False)
        announced.append(list(tool.to_openai()["parameters"]["properties"]))
    assert announced == [["a", "b"], ["b", "a"]]


def test_a_reloaded_tenants_file_is_seen(tenants_file: Load) -> None:
    """A tenants file loaded again with another model and tool host gives the new config and tools."""
    hosts = frozenset({"a.example", "b.example"})
    answers = []
    for model, host in (("gpt-realtime", "a.example"), ("gpt-realtime-mini", "b.example")):
        source = tenants_file(TENANT.format(model=model, host=host))
        config = parse_config("acme-corp", source.tenants["acme-corp"].config)
        [tool] = build_tools("acme-corp", config, allowed_hosts=hosts, allow_plain_http=False)
        assert isinstance(tool, HttpTool)
        answers.append((config.model, tool.url))
    assert answers == [
        ("gpt-realtime", "https://a.example/orders"),
        ("gpt-realtime-mini", "https://b.example/orders"),
    ]


async def test_a_replaced_mongodb_document_is_seen(
    example_source: FileTenantSource, mock_clock: trio.testing.MockClock
) -> None:
    """Fetched again unchanged, a MongoDB config is not parsed again; replaced, it is."""
    store = MongoStore(mongomock.MongoClient(), max_threads=1)
    try:
        await import_tenants(store, example_source, dry_run=False)
        source = MongoTenantSource(store)
        first = parse_config("globex", await source.fetch_config("globex"))
        assert parse_config("globex", await source.fetch_config("globex")) is first
        changed = {"schema_version": 1, "voice": "cedar"}
        await store.run(
            "test", lambda db: db["tenants"].update_one({"_id": "globex"}, {"$set": {"config": changed}})
        )
        assert parse_config("globex", await source.fetch_config("globex")).voice == "cedar"
    finally:
        await store.aclose()


async def test_an_invalid_config_fails_alike_every_time(example_source: FileTenantSource) -> None:
    """hooli's config gives an equal, new error on every call, whatever a caller did to the last."""
    raw = await example_source.fetch_config("hooli")
    seen: list[TenantConfigParseError] = []
    rendered = []
    for _ in range(3):
        with pytest.raises(TenantConfigParseError) as info:
            parse_config("hooli", raw)
        assert isinstance(info.value.__cause__, ConfigStructureError)
        assert all(info.value is not error for error in seen)
        seen.append(info.value)
        rendered.append((str(info.value), copy.deepcopy(info.value.to_log_dict())))
        info.value.context["errors"].clear()
    assert rendered == [rendered[0]] * 3
    assert len(rendered[0][1]["context"]["errors"]) == 2


async def test_invalid_tools_fail_alike_every_time(example_source: FileTenantSource) -> None:
    """piedpiper's tools give an equal, new ToolBuildError on every call."""
    config = parse_config("piedpiper", await example_source.fetch_config("piedpiper"))
    seen = []
    for _ in range(2):
        with pytest.raises(ToolBuildError) as info:
            build_tools("piedpiper", config, allowed_hosts=ACME_HOSTS, allow_plain_http=False)
        seen.append(info.value.to_log_dict())
        info.value.context["errors"].append("changed by a caller")
    assert seen[0] == seen[1]
    assert seen[0]["reason"] == "tool_config_invalid"


def test_tools_follow_the_tool_settings() -> None:
    """The same config under other tool settings is judged under those settings."""
    config = structure_config(
        {"schema_version": 1, "tools": [{"kind": "http", "name": "x", "description": "X.", "url": "http://h.example/"}]}
    )
    assert build_tools("t", config, allowed_hosts=frozenset({"h.example"}), allow_plain_http=True)
    with pytest.raises(ToolBuildError):
        build_tools("t", config, allowed_hosts=frozenset({"h.example"}), allow_plain_http=False)
    with pytest.raises(ToolBuildError):
        build_tools("t", config, allowed_hosts=frozenset(), allow_plain_http=True)
    assert build_tools("t", config, allowed_hosts=frozenset({"h.example"}), allow_plain_http=True)


async def test_announced_tools_are_the_callers_to_change(example_source: FileTenantSource) -> None:
    """Changing what to_openai returned changes neither the tool nor the next announcement."""
    config = parse_config("acme-corp", await example_source.fetch_config("acme-corp"))
    tools = build_tools("acme-corp", config, allowed_hosts=ACME_HOSTS, allow_plain_http=False)
    expected = copy.deepcopy([tool.to_openai() for tool in tools])
    announced = [tool.to_openai() for tool in tools]
    announced[2]["parameters"]["properties"]["order_number"]["type"] = "integer"
    announced[2]["parameters"]["required"].append("x")
    announced[0]["parameters"]["properties"].clear()
    assert [tool.to_openai() for tool in tools] == expected
    assert expected[2]["parameters"]["properties"]["order_number"]["type"] == "string"


def test_tenant_memo_drops_the_least_recently_used_tenant() -> None:
    """A full memo forgets the tenant used longest ago."""
    memo: TenantMemo[str] = TenantMemo(max_tenants=2)
    memo.put("a", "A")
    memo.put("b", "B")
    assert memo.get("a") == "A"
    memo.put("c", "C")
    assert (memo.get("a"), memo.get("b"), memo.get("c"), len(memo)) == ("A", None, "C", 2)
    with pytest.raises(ValueError, match="max_tenants"):
        TenantMemo(max_tenants=0)


def test_config_and_tools_memos_are_bounded() -> None:
    """However many tenants are seen, the memos keep at most DEFAULT_MAX_TENANTS each."""
    config = structure_config({"schema_version": 1, "tools": [{"kind": "end_call"}]})
    for index in range(DEFAULT_MAX_TENANTS + 10):
        parse_config(f"tenant-{index}", {"schema_version": 1})
        build_tools(f"tenant-{index}", config, allowed_hosts=frozenset(), allow_plain_http=False)
    assert len(CONFIG_MEMO) == len(TOOLS_MEMO) == DEFAULT_MAX_TENANTS


def test_to_value_cache_is_bounded_and_stays_correct() -> None:
    """More distinct To values than the cache holds: each still reads right, the cache stays bounded."""
    for index in range(TO_CACHE_ENTRIES + 50):
        number = f"+1415{index:07d}"
        assert dialed_number(to(f"<sip:{number}@h>;tag={index}"), default_region="US") == number
    assert to_cache_info().currsize == TO_CACHE_ENTRIES
    assert dialed_number(to("<sip:+14150000000@h>;tag=0"), default_region="US") == "+14150000000"


def test_a_bad_to_value_is_refused_alike_every_time() -> None:
    """A To value holding no number is refused with the same error each time, from the cache."""
    errors = []
    for _ in range(3):
        with pytest.raises(TenantResolutionError) as info:
            dialed_number(to("sip:alice@h"), default_region="US")
        errors.append(info.value.to_log_dict())
    assert errors == [errors[0]] * 3
    assert errors[0]["reason"] == "to_header_invalid"
    hits = to_cache_info().hits
    with pytest.raises(TenantResolutionError):
        dialed_number(to("sip:alice@h"), default_region="US")
    assert to_cache_info().hits == hits + 1


def test_long_to_values_are_read_but_not_kept() -> None:
    """A To value longer than CACHED_TO_CHARS is read each time and never fills the cache."""
    value = f"<sip:+18005551212@{'h' * CACHED_TO_CHARS}>"
    before = to_cache_info()
    for _ in range(3):
        assert dialed_number(to(value), default_region="US") == "+18005551212"
    assert to_cache_info() == before


async def test_the_region_is_part_of_the_to_cache(example_source: FileTenantSource) -> None:
    """The same national number reads in each call's default region."""
    assert await resolve_tenant(example_source, to("sip:8005551212@h"), default_region="US") == (
        "+18005551212",
        "acme-corp",
    )
    with pytest.raises(TenantResolutionError) as info:
        await resolve_tenant(example_source, to("sip:8005551212@h"), default_region="GB")
    assert (info.value.reason, info.value.context) == (
        "number_not_routed",
        {"number": "+448005551212"},
    )
