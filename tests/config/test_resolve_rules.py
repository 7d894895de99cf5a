"""The resolution rules of config.resolve, each failure with the guide's error and reason."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from config.errors import (
    InstructionsDBError,
    InstructionsMissingError,
    TenantConfigParseError,
    TenantNotConfiguredError,
    TenantResolutionError,
    ToolBuildError,
)
from config.models import EndCallTool, HttpTool, TenantConfig, TransferCallTool
from config.resolve import (
    Instructions,
    build_tools,
    parse_config,
    peek_tenant_limit,
    peek_tenant_runtime,
    resolve_instructions,
    resolve_tenant,
)
from config.source import PromptKind
from config.tenants_file import FileTenantSource

Load = Callable[[str], FileTenantSource]
ACME_HOSTS = frozenset({"tools.acme.example"})


def to(number: str) -> list[dict[str, str]]:
    return [{"name": "To", "value": f"<sip:{number}@sip.example.com>;tag=1"}]


async def test_resolve_tenant_routes_the_dialed_number(example_source: FileTenantSource) -> None:
    """The To header's number is routed to its tenant."""
    assert await resolve_tenant(example_source, to("+18005551212"), default_region="US") == (
        "+18005551212",
        "acme-corp",
    )
    national = await resolve_tenant(example_source, to("8005550100"), default_region="US")
    assert national == ("+18005550100", "globex")


async def test_unrouted_number(example_source: FileTenantSource) -> None:
    """A number no tenant owns gives number_not_routed with the number as context."""
    with pytest.raises(TenantResolutionError) as info:
        await resolve_tenant(example_source, to("+18005550199"), default_region="US")
    error = info.value
    assert (error.reason, error.context, error.tenant_id) == (
        "number_not_routed",
        {"number": "+18005550199"},
        None,
    )


@pytest.mark.parametrize(
    ("headers", "reason"),
    [([], "to_header_missing"), ([{"name": "To", "value": "sip:alice@h"}], "to_header_invalid")],
)
async def test_to_header_reasons_pass_through(
    example_source: FileTenantSource, headers: list[dict[str, str]], reason: str
) -> None:
    """The phone reasons reach the caller of resolve_tenant unchanged."""
    with pytest.raises(TenantResolutionError) as info:
        await resolve_tenant(example_source, headers, default_region="US")
    assert info.value.reason == reason


async def test_healthy_tenant_resolves_its_instructions(example_source: FileTenantSource) -> None:
    """The state pointers lead to the greeting and instruction texts."""
    instructions = await resolve_instructions(example_source, "globex")
    assert instructions == Instructions(
        greeting="Globex reception, good day. Who would you like to reach?",
        instructions=instructions.instructions,
        greeting_id="welcome",
        instruction_id="reception",
        fallback=False,
    )
    assert instructions.instructions.startswith("You are the receptionist of Globex.")


async def test_missing_state_document(example_source: FileTenantSource) -> None:
    """No state document: tenant_not_configured (state_doc_missing)."""
    with pytest.raises(TenantNotConfiguredError) as info:
        await resolve_instructions(example_source, "initech")
    assert (info.value.reason, info.value.tenant_id) == ("state_doc_missing", "initech")
    assert info.value.event == "tenant_not_configured"


@pytest.mark.parametrize(
    ("state", "errors"),
    [
        ("{greeting_id: g}", ["instruction_id must be a non-empty string"]),
        ("{greeting_id: 7, instruction_id: ''}",
         ["greeting_id must be a non-empty string", "instruction_id must be a non-empty string"]),
        ("{}", ["greeting_id must be a non-empty string", "instruction_id must be a non-empty string"]),
    ],
)
async def test_invalid_state_document(tenants_file: Load, state: str, errors: list[str]) -> None:
    """State pointers that are not non-empty strings: state_doc_invalid, listing each."""
    source = tenants_file(f"tenants: [{{id: t, state: {state}}}]")
    with pytest.raises(TenantNotConfiguredError) as info:
        await resolve_instructions(source, "t")
    assert (info.value.reason, info.value.tenant_id) == ("state_doc_invalid", "t")
    assert info.value.context == {"errors": errors}


PROMPTS = """
tenants:
  - id: t
    state: {{greeting_id: g1, instruction_id: i1}}
    prompts:
      greetings: {greetings}
      instructions: {instructions}
"""


@pytest.mark.parametrize(
    ("greetings", "instructions", "reason"),
    [
        ("{other: Hi}", "{i1: Help}", "greeting_not_found"),
        ("{g1: ''}", "{i1: Help}", "greeting_text_empty"),
        ('{g1: "  \\n\\t "}', "{i1: Help}", "greeting_text_empty"),
        ("{g1: 12}", "{i1: Help}", "greeting_text_empty"),
        ("{g1: Hi}", "{}", "instruction_not_found"),
        ("{g1: Hi}", "{i1: ''}", "instruction_text_empty"),
        ("{g1: Hi}", "{i1: [a]}", "instruction_text_empty"),
        ("{}", "{}", "greeting_not_found"),
        ("{g1: ''}", "{i1: ''}", "greeting_text_empty"),
    ],
)
async def test_prompt_rules(tenants_file: Load, greetings: str, instructions: str, reason: str) -> None:
    """Missing or empty prompts give instructions_missing; the greeting is checked first."""
    source = tenants_file(PROMPTS.format(greetings=greetings, instructions=instructions))
    with pytest.raises(InstructionsMissingError) as info:
        await resolve_instructions(source, "t")
    error = info.value
    assert (error.reason, error.tenant_id, error.event) == (reason, "t", "instructions_missing")
    assert error.context == {"greeting_id": "g1", "instruction_id": "i1"}


async def test_umbrella_has_an_empty_greeting(example_source: FileTenantSource) -> None:
    """The example's umbrella tenant fails with greeting_text_empty."""
    with pytest.raises(InstructionsMissingError) as info:
        await resolve_instructions(example_source, "umbrella")
    assert info.value.reason == "greeting_text_empty"
    assert info.value.context == {"greeting_id": "greeting_main", "instruction_id": "inst_main"}


class UnreachableStore:
    """A tenant source whose store is down: every read raises InstructionsDBError."""

    def __init__(self) -> None:
        self.error = InstructionsDBError(
            "store timed out",
            reason="db_timeout",
            tenant_id="acme-corp",
            context={"operation": "fetch_state", "cause_type": "ServerSelectionTimeoutError"},
        )
        self.load_problems: Sequence[str] = ()

    async def route_number(self, number: str) -> str | None:
        raise self.error

    async def fetch_state(self, tenant_id: str) -> Mapping[str, Any] | None:
        raise self.error

    async def fetch_config(self, tenant_id: str) -> Mapping[str, Any] | None:
        raise self.error

    async def fetch_prompt(self, tenant_id: str, kind: PromptKind, prompt_id: str) -> str | None:
        raise self.error

    async def list_tenants(self) -> Sequence[str]:
        return ["acme-corp"]


async def test_store_errors_pass_through_untouched() -> None:
    """An InstructionsDBError from the source reaches the caller as the same object."""
    store = UnreachableStore()
    with pytest.raises(InstructionsDBError) as info:
        await resolve_instructions(store, "acme-corp")
    assert info.value is store.error


def test_missing_config_document() -> None:
    """No config document: tenant_not_configured (config_doc_missing)."""
    with pytest.raises(TenantNotConfiguredError) as info:
        parse_config("initech", None)
    assert (info.value.reason, info.value.tenant_id) == ("config_doc_missing", "initech")


async def test_invalid_config_lists_every_path(example_source: FileTenantSource) -> None:
    """A config failing validation: tenant_config_parse_error (config_invalid) with every path."""
    with pytest.raises(TenantConfigParseError) as info:
        parse_config("hooli", await example_source.fetch_config("hooli"))
    error = info.value
    assert (error.reason, error.tenant_id, error.event) == (
        "config_invalid", "hooli", "tenant_config_parse_error",
    )
    assert error.context == {
        "errors": [
            "invalid value for type, expected int @ config.limits.max_concurrent_calls",
            "extra fields found (colour) @ config",
        ]
    }


async def test_example_tools_build(example_source: FileTenantSource) -> None:
    """acme-corp's three tools build into their specs, in order."""
    config = parse_config("acme-corp", await example_source.fetch_config("acme-corp"))
    end, transfer, lookup = build_tools(
        "acme-corp", config, allowed_hosts=ACME_HOSTS, allow_plain_http=False
    )
    assert isinstance(end, EndCallTool)
    assert isinstance(transfer, TransferCallTool)
    assert transfer.target_uri == "tel:+14155550123"
    assert isinstance(lookup, HttpTool)
    assert (lookup.name, lookup.url, lookup.timeout_s) == (
        "lookup_order", "https://tools.acme.example/orders", 4.0,
    )
    assert [tool.to_openai()["name"] for tool in (end, transfer, lookup)] == [
        "end_call", "transfer_call", "lookup_order",
    ]


def tools_error(
    tools: list[Any], *, hosts: frozenset[str] = ACME_HOSTS, plain_http: bool = False
) -> ToolBuildError:
    config = TenantConfig(schema_version=1, tools=tuple(tools))
    with pytest.raises(ToolBuildError) as info:
        build_tools("t", config, allowed_hosts=hosts, allow_plain_http=plain_http)
    assert info.value.tenant_id == "t"
    assert info.value.event == "tool_build_error"
    return info.value


def http(url: str, name: str = "lookup") -> dict[str, Any]:
    return {"kind": "http", "name": name, "description": "Look something up.", "url": url}


@pytest.mark.parametrize(
    ("tool", "error"),
    [
        ({"kind": "sms"}, "tool kind unknown ('sms'), expected one of end_call, transfer_call, http @ config.tools[1].kind"),
        ({"name": "x"}, "tool kind missing, expected one of end_call, transfer_call, http @ config.tools[1].kind"),
        ({"kind": "end_call", "goodbye_timeout_s": "10"}, "invalid value for type, expected float @ config.tools[1].goodbye_timeout_s"),
        ({"kind": "transfer_call", "target_uri": "https://desk.example"}, "must be a tel:, sip: or sips: URI @ config.tools[1].target_uri"),
        ({"kind": "transfer_call"}, "required field missing @ config.tools[1].target_uri"),
        (http("ftp://tools.acme.example/x"), "url must use https (http only with CALLVISOR_TOOL_ALLOW_HTTP), got 'ftp' @ config.tools[1].url"),
        (http("http://tools.acme.example/x"), "url must use https (http only with CALLVISOR_TOOL_ALLOW_HTTP), got 'http' @ config.tools[1].url"),
        (http("tools.acme.example/x"), "url must use https (http only with CALLVISOR_TOOL_ALLOW_HTTP), got no scheme @ config.tools[1].url"),
        (http("https://evil.example/x"), "host 'evil.example' is not in CALLVISOR_TOOL_ALLOWED_HOSTS @ config.tools[1].url"),
        (http("https://user:pw@tools.acme.example/x"), "url must not hold credentials @ config.tools[1].url"),
        (http("https:///x"), "url has no host @ config.tools[1].url"),
        (http("https://tools.acme.example:99999/"), "url is not a valid URL @ config.tools[1].url"),
        (http("https://tools.acme.example/a b"), "url must not contain whitespace or control characters @ config.tools[1].url"),
    ],
)
def test_invalid_tool_fails_all_tools(tool: dict[str, Any], error: str) -> None:
    """One invalid tool: tool_config_invalid with its path, and no tool is built at all."""
    failure = tools_error([{"kind": "end_call"}, tool])
    assert failure.reason == "tool_config_invalid"
    assert failure.context == {"errors": [error]}


def test_no_allowed_hosts_means_no_http_tool() -> None:
    """With an empty host list, an https tool cannot be built."""
    failure = tools_error([http("https://tools.acme.example/x")], hosts=frozenset())
    assert failure.context["errors"] == [
        "host 'tools.acme.example' is not in CALLVISOR_TOOL_ALLOWED_HOSTS @ config.tools[0].url"
    ]


def test_plain_http_is_allowed_when_enabled() -> None:
    """allow_plain_http lets an http:// tool URL through; the host must still be allowed."""
    config = TenantConfig(schema_version=1, tools=(http("http://127.0.0.1:8080/tool"),))
    [tool] = build_tools(
        "t", config, allowed_hosts=frozenset({"127.0.0.1"}), allow_plain_http=True
    )
    assert isinstance(tool, HttpTool)
    assert tool.url == "http://127.0.0.1:8080/tool"
    failure = tools_error([http("ftp://127.0.0.1/x")], hosts=frozenset({"127.0.0.1"}), plain_http=True)
    assert failure.context["errors"] == ["url must use https, got 'ftp' @ config.tools[0].url"]


def test_duplicate_tool_names() -> None:
    """Two tools with one name: duplicate_tool_name, pointing at the second."""
    failure = tools_error([{"kind": "end_call"}, http("https://tools.acme.example/", name="end_call")])
    assert failure.reason == "duplicate_tool_name"
    assert failure.context == {
        "errors": [
            "duplicate tool name 'end_call' (first used by config.tools[0]) @ config.tools[1].name"
        ]
    }


def test_invalid_and_duplicate_tools_report_both() -> None:
    """An invalid tool next to duplicates: tool_config_invalid, listing every problem."""
    failure = tools_error([{"kind": "end_call"}, {"kind": "end_call"}, {"kind": "fax"}])
    assert failure.reason == "tool_config_invalid"
    assert failure.context["errors"] == [
        "tool kind unknown ('fax'), expected one of end_call, transfer_call, http @ config.tools[2].kind",
        "duplicate tool name 'end_call' (first used by config.tools[0]) @ config.tools[1].name",
    ]


def test_no_tools_builds_nothing() -> None:
    """A config without tools builds an empty tuple."""
    config = TenantConfig(schema_version=1)
    assert build_tools("t", config, allowed_hosts=frozenset(), allow_plain_http=False) == ()


@pytest.mark.parametrize(
    ("raw", "limit"),
    [
        ({"limits": {"max_concurrent_calls": 5}}, 5),
        ({"schema_version": "garbage", "limits": {"max_concurrent_calls": 1}}, 1),
        ({"limits": {"max_concurrent_calls": "lots"}}, None),
        ({"limits": {"max_concurrent_calls": True}}, None),
        ({"limits": {"max_concurrent_calls": 0}}, None),
        ({"limits": {"max_concurrent_calls": 5.0}}, None),
        ({"limits": {"max_concurrent_calls": None}}, None),
        ({"limits": [5]}, None),
        ({}, None),
        (None, None),
        ([1], None),
    ],
)
def test_peek_tenant_limit(raw: object, limit: int | None) -> None:
    """The capacity step reads only a valid whole-number limit from the unvalidated config."""
    assert peek_tenant_limit(raw) == limit


@pytest.mark.parametrize(
    ("raw", "runtime"),
    [
        ({"runtime": "live"}, "live"),
        ({"runtime": "live", "schema_version": "garbage"}, "live"),
        ({"runtime": "realtime"}, "realtime"),
        ({"runtime": "LIVE"}, "realtime"),
        ({"runtime": ["live"]}, "realtime"),
        ({}, "realtime"),
        (None, "realtime"),
        ("live", "realtime"),
    ],
)
def test_peek_tenant_runtime(raw: object, runtime: str) -> None:
    """Intake reads ``live`` only from an exact ``runtime: live``; anything else is Realtime."""
    assert peek_tenant_runtime(raw) == runtime


async def test_peek_reads_the_example_limits(example_source: FileTenantSource) -> None:
    """The example's limits are seen by the capacity step; hooli's broken one is not."""
    limits = {
        tenant: peek_tenant_limit(await example_source.fetch_config(tenant))
        for tenant in await example_source.list_tenants()
    }
    assert limits == {
        "acme-corp": 10, "globex": 1, "initech": None, "umbrella": None, "hooli": None,
        "piedpiper": None,
    }
