"""check_tenants: every tenant through the call-time rules, every problem reported."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import config
from config.check import Problem, check_tenants, format_problem, format_problems
from config.tenants_file import FileTenantSource

Load = Callable[[str], FileTenantSource]
LIVE_EXAMPLE = Path(config.__file__).parent / "examples" / "tenants-live.yaml"
ACME_HOSTS = frozenset({"tools.acme.example"})

HTTPS_ONLY = "url must use https (http only with CALLVISOR_TOOL_ALLOW_HTTP), got 'ftp'"


async def test_example_file_problems(example_source: FileTenantSource) -> None:
    """The example file has exactly one problem each for initech, umbrella, hooli and piedpiper."""
    problems = await check_tenants(example_source, allowed_hosts=ACME_HOSTS, allow_plain_http=False)
    assert problems == [
        Problem(
            tenant_id="initech",
            event="tenant_not_configured",
            reason="state_doc_missing",
            details=("tenant 'initech' has no state document",),
        ),
        Problem(
            tenant_id="umbrella",
            event="instructions_missing",
            reason="greeting_text_empty",
            details=("greeting 'greeting_main' of tenant 'umbrella' has no text",),
        ),
        Problem(
            tenant_id="hooli",
            event="tenant_config_parse_error",
            reason="config_invalid",
            details=(
                "invalid value for type, expected int @ config.limits.max_concurrent_calls",
                "extra fields found (colour) @ config",
            ),
        ),
        Problem(
            tenant_id="piedpiper",
            event="tool_build_error",
            reason="tool_config_invalid",
            details=(f"{HTTPS_ONLY} @ config.tools[1].url",),
        ),
    ]
    assert not [p for p in problems if p.tenant_id in ("acme-corp", "globex")]


async def test_problems_format_as_one_line_each(example_source: FileTenantSource) -> None:
    """Each problem renders as 'tenant: event (reason): details'."""
    problems = await check_tenants(example_source, allowed_hosts=ACME_HOSTS, allow_plain_http=False)
    assert format_problems(problems).splitlines() == [
        "initech: tenant_not_configured (state_doc_missing): tenant 'initech' has no state document",
        "umbrella: instructions_missing (greeting_text_empty): greeting 'greeting_main' of tenant "
        "'umbrella' has no text",
        "hooli: tenant_config_parse_error (config_invalid): invalid value for type, expected int "
        "@ config.limits.max_concurrent_calls; extra fields found (colour) @ config",
        f"piedpiper: tool_build_error (tool_config_invalid): {HTTPS_ONLY} @ config.tools[1].url",
    ]


async def test_acme_tools_need_their_host_allowed(example_source: FileTenantSource) -> None:
    """Without tools.acme.example allowed, acme-corp's http tool is reported too."""
    problems = await check_tenants(example_source, allowed_hosts=frozenset(), allow_plain_http=False)
    acme = [p for p in problems if p.tenant_id == "acme-corp"]
    assert acme == [
        Problem(
            tenant_id="acme-corp",
            event="tool_build_error",
            reason="tool_config_invalid",
            details=(
                "host 'tools.acme.example' is not in CALLVISOR_TOOL_ALLOWED_HOSTS "
                "@ config.tools[2].url",
            ),
        )
    ]


async def test_independent_problems_of_one_tenant_are_all_reported(tenants_file: Load) -> None:
    """An empty greeting, a missing instruction and a bad tool are three problems, not one."""
    source = tenants_file("""
        tenants:
          - id: messy
            state: {greeting_id: g, instruction_id: i}
            config: {schema_version: 1, tools: [{kind: end_call, goodbye_timeout_s: -1}]}
            prompts: {greetings: {g: ""}}
    """)
    problems = await check_tenants(source, allowed_hosts=frozenset(), allow_plain_http=False)
    assert [(p.event, p.reason) for p in problems] == [
        ("instructions_missing", "greeting_text_empty"),
        ("instructions_missing", "instruction_not_found"),
        ("tool_build_error", "tool_config_invalid"),
    ]
    assert problems[2].details == (
        "must be > 0 and <= 60, got -1 @ config.tools[0].goodbye_timeout_s",
    )


async def test_dependent_steps_are_skipped(tenants_file: Load) -> None:
    """No prompt is looked up without a state, and no tool is built from a missing config."""
    source = tenants_file("tenants: [{id: bare}]")
    problems = await check_tenants(source, allowed_hosts=frozenset(), allow_plain_http=False)
    assert [(p.tenant_id, p.reason) for p in problems] == [
        ("bare", "state_doc_missing"),
        ("bare", "config_doc_missing"),
    ]


async def test_load_problems_come_first(tenants_file: Load) -> None:
    """The source's load problems are reported, as the source's, before any tenant's."""
    source = tenants_file("""
        tenants:
          - id: ok
            phone_numbers: ["nope"]
            state: {greeting_id: g, instruction_id: i}
            config: {schema_version: 1}
            prompts: {greetings: {g: Hello}, instructions: {i: Help callers.}}
          - {name: no id}
    """)
    problems = await check_tenants(source, allowed_hosts=frozenset(), allow_plain_http=False)
    assert [format_problem(p) for p in problems] == [
        "(source): tenants_file_problem (load_problem): tenants[0] (ok): 'nope' is not a phone "
        "number; not routed",
        "(source): tenants_file_problem (load_problem): tenants[1]: no string 'id'; skipped",
    ]


async def test_clean_file_has_no_problems(tenants_file: Load) -> None:
    """A healthy tenants file checks clean."""
    source = tenants_file("""
        tenants:
          - id: ok
            phone_numbers: ["+18005550042"]
            state: {greeting_id: g, instruction_id: i}
            config: {schema_version: 1, tools: [{kind: end_call}]}
            prompts: {greetings: {g: Hello}, instructions: {i: Help callers.}}
    """)
    assert await check_tenants(source, allowed_hosts=frozenset(), allow_plain_http=False) == []
    assert format_problems([]) == ""


async def test_live_example_file_is_clean() -> None:
    """The Live example (a Live tenant beside a Realtime one) passes every call-time rule."""
    source = FileTenantSource.load(LIVE_EXAMPLE)
    assert await source.list_tenants() == ["wonka-live", "stark-realtime"]
    assert await check_tenants(source, allowed_hosts=ACME_HOSTS, allow_plain_http=False) == []


async def test_live_keys_are_checked_with_paths(tenants_file: Load) -> None:
    """``tenants check`` reports a bad runtime and misplaced Live keys at their config paths."""
    source = tenants_file(
        """
        tenants:
          - id: typo
            state: {greeting_id: g, instruction_id: i}
            prompts: {greetings: {g: hello}, instructions: {i: help}}
            config: {schema_version: 1, runtime: gpt-live}
          - id: misplaced
            state: {greeting_id: g, instruction_id: i}
            prompts: {greetings: {g: hello}, instructions: {i: help}}
            config: {schema_version: 1, live: {delegation_model: gpt-5.4}}
        """
    )
    problems = await check_tenants(source, allowed_hosts=ACME_HOSTS, allow_plain_http=False)
    assert [format_problem(p) for p in problems] == [
        "typo: tenant_config_parse_error (config_invalid): "
        "must be one of realtime, live, got 'gpt-live' @ config.runtime",
        "misplaced: tenant_config_parse_error (config_invalid): "
        "only for runtime live (this tenant's is realtime) @ config.live",
    ]
