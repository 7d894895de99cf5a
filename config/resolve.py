"""The rules that turn a tenant's raw documents into what a call needs, each with its reasons.

In the guide's order: ``resolve_tenant`` (To header -> E.164 -> route), then (after the capacity
step, which reads the tenant's limit with ``peek_tenant_limit``) ``resolve_instructions``
(state pointers -> prompt texts), ``parse_config`` and ``build_tools``.  Every error carries the
tenant id; ``InstructionsDBError`` raised by a source passes through untouched, since the
fallback to downtime prompts is the caller's decision.

=========================  ============================  ======================================
error                      reason                        when
=========================  ============================  ======================================
TenantResolutionError      to_header_missing             no SIP To header
TenantResolutionError      to_header_invalid             To holds no phone number
TenantResolutionError      number_not_routed             no tenant owns the number
TenantNotConfiguredError   state_doc_missing             no state document
TenantNotConfiguredError   state_doc_invalid             state lacks greeting_id/instruction_id
InstructionsMissingError   greeting_not_found            greeting_id names no greeting
InstructionsMissingError   greeting_text_empty           the greeting has no text
InstructionsMissingError   instruction_not_found         instruction_id names no instruction
InstructionsMissingError   instruction_text_empty        the instruction has no text
TenantNotConfiguredError   config_doc_missing            no config document
TenantConfigParseError     config_invalid                the config fails validation
ToolBuildError             tool_config_invalid           a tool is invalid (all tools dropped)
ToolBuildError             duplicate_tool_name           two tools share a name
=========================  ============================  ======================================

``parse_config`` and ``build_tools`` remember their last outcome per tenant (``CONFIG_MEMO``
and ``TOOLS_MEMO`` of ``config.memo``, which explains their keys and bounds), so a tenant's
calls structure its config and build its tools once per document.  What they return is shared
by those calls: frozen attrs objects, to be read and not changed (``to_openai`` gives each
caller a fresh dict).  An error is raised afresh, equal to the first, each time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from attrs import frozen

from .convert import structure, structure_config
from .errors import (
    ConfigStructureError,
    InstructionsMissingError,
    TenantConfigParseError,
    TenantNotConfiguredError,
    TenantResolutionError,
    ToolBuildError,
)
from .memo import CONFIG_MEMO, TOOLS_MEMO, BuiltTools, ParsedConfig, fingerprint
from .models import TOOL_KINDS, HttpTool, TenantConfig, ToolSpec
from .phone import dialed_number
from .source import PromptKind, TenantSource


@frozen(kw_only=True)
class Instructions:
    """What the model is told: the greeting it speaks first and its instructions."""

    greeting: str
    instructions: str
    greeting_id: str | None
    instruction_id: str | None
    fallback: bool = False  # True when these are the downtime prompts


@frozen(kw_only=True)
class StatePointers:
    """The ids a tenant's state document points at."""

    greeting_id: str
    instruction_id: str

    def context(self) -> dict[str, str]:
        return {"greeting_id": self.greeting_id, "instruction_id": self.instruction_id}


async def resolve_tenant(
    source: TenantSource, sip_headers: Sequence[Mapping[str, Any]], *, default_region: str
) -> tuple[str, str]:
    """Return ``(number, tenant_id)`` for the number dialed; raise TenantResolutionError."""
    number = dialed_number(sip_headers, default_region=default_region)
    tenant_id = await source.route_number(number)
    if tenant_id is None:
        raise TenantResolutionError(
            f"no tenant owns {number}", reason="number_not_routed", context={"number": number}
        )
    return number, tenant_id


def read_state(tenant_id: str, state: object) -> StatePointers:
    """Read the pointers of a state document; raise TenantNotConfiguredError."""
    if state is None:
        raise TenantNotConfiguredError(
            f"tenant {tenant_id!r} has no state document",
            reason="state_doc_missing",
            tenant_id=tenant_id,
        )
    if not isinstance(state, Mapping):
        errors = ["the state document is not a mapping"]
    else:
        errors = [
            f"{key} must be a non-empty string"
            for key in ("greeting_id", "instruction_id")
            if not _text(state.get(key))
        ]
    if errors:
        raise TenantNotConfiguredError(
            f"tenant {tenant_id!r} has an invalid state document",
            reason="state_doc_invalid",
            tenant_id=tenant_id,
            context={"errors": errors},
        )
    assert isinstance(state, Mapping)
    return StatePointers(greeting_id=state["greeting_id"], instruction_id=state["instruction_id"])


async def fetch_prompt_text(
    source: TenantSource, tenant_id: str, kind: PromptKind, pointers: StatePointers
) -> str:
    """Fetch the greeting or instruction the state points at; raise InstructionsMissingError."""
    prompt_id = pointers.greeting_id if kind == "greeting" else pointers.instruction_id
    text = await source.fetch_prompt(tenant_id, kind, prompt_id)
    if text is None:
        reason, what = f"{kind}_not_found", "does not exist"
    elif not _text(text):
        reason, what = f"{kind}_text_empty", "has no text"
    else:
        return text
    raise InstructionsMissingError(
        f"{kind} {prompt_id!r} of tenant {tenant_id!r} {what}",
        reason=reason,
        tenant_id=tenant_id,
        context=pointers.context(),
    )


async def resolve_instructions(source: TenantSource, tenant_id: str) -> Instructions:
    """Follow the tenant's state pointers to its greeting and instruction texts.

    Raises TenantNotConfiguredError or InstructionsMissingError (the greeting is checked before
    the instruction); a source's InstructionsDBError passes through.
    """
    pointers = read_state(tenant_id, await source.fetch_state(tenant_id))
    greeting = await fetch_prompt_text(source, tenant_id, "greeting", pointers)
    instructions = await fetch_prompt_text(source, tenant_id, "instruction", pointers)
    return Instructions(
        greeting=greeting,
        instructions=instructions,
        greeting_id=pointers.greeting_id,
        instruction_id=pointers.instruction_id,
    )


def parse_config(tenant_id: str, raw: Mapping[str, Any] | None) -> TenantConfig:
    """Validate a config document; raise TenantNotConfiguredError or TenantConfigParseError.

    The same document (by ``config.memo.fingerprint``) gives the same frozen ``TenantConfig``
    object, or an equal error, without being structured again.
    """
    if raw is None:
        raise TenantNotConfiguredError(
            f"tenant {tenant_id!r} has no config document",
            reason="config_doc_missing",
            tenant_id=tenant_id,
        )
    key = fingerprint(raw)
    parsed = CONFIG_MEMO.get(tenant_id)
    if parsed is None or key is None or parsed.fingerprint != key:
        try:
            parsed = ParsedConfig(fingerprint=key, config=structure_config(raw))
        except ConfigStructureError as exc:
            parsed = ParsedConfig(fingerprint=key, config=None, errors=tuple(exc.errors))
        CONFIG_MEMO.put(tenant_id, parsed)
    if parsed.config is not None:
        return parsed.config
    errors = list(parsed.errors)
    raise TenantConfigParseError(
        f"the config document of tenant {tenant_id!r} is invalid",
        reason="config_invalid",
        tenant_id=tenant_id,
        context={"errors": errors},
    ) from ConfigStructureError(errors)


def build_tools(
    tenant_id: str,
    config: TenantConfig,
    *,
    allowed_hosts: frozenset[str],
    allow_plain_http: bool,
) -> tuple[ToolSpec, ...]:
    """Build every tool of ``config``, or none: any invalid tool raises ToolBuildError.

    An http tool's URL must use https (http only with ``allow_plain_http``) and name a host in
    ``allowed_hosts``.  The same ``config`` object under the same settings gives the same
    frozen tools, or an equal error, without building them again.
    """
    built = TOOLS_MEMO.get(tenant_id)
    if built is None or not built.built_from(config, allowed_hosts, allow_plain_http):
        built = _build_tools(config, allowed_hosts=allowed_hosts, allow_plain_http=allow_plain_http)
        TOOLS_MEMO.put(tenant_id, built)
    if built.reason is None:
        return built.tools
    raise ToolBuildError(
        f"the tools of tenant {tenant_id!r} cannot be built",
        reason=built.reason,
        tenant_id=tenant_id,
        context={"errors": list(built.errors)},
    )


def _build_tools(
    config: TenantConfig, *, allowed_hosts: frozenset[str], allow_plain_http: bool
) -> BuiltTools:
    built: list[tuple[int, ToolSpec]] = []
    errors: list[str] = []
    for index, raw in enumerate(config.tools):
        path = f"config.tools[{index}]"
        kind = raw.get("kind")
        cls = TOOL_KINDS.get(kind) if isinstance(kind, str) else None
        if cls is None:
            known = ", ".join(TOOL_KINDS)
            found = "missing" if kind is None else f"unknown ({_shown(kind)})"
            errors.append(f"tool kind {found}, expected one of {known} @ {path}.kind")
            continue
        try:
            spec = structure({k: v for k, v in raw.items() if k != "kind"}, cls, path=path)
        except ConfigStructureError as exc:
            errors.extend(exc.errors)
            continue
        if isinstance(spec, HttpTool):
            problem = _url_problem(spec.url, allowed_hosts, allow_plain_http=allow_plain_http)
            if problem is not None:
                errors.append(f"{problem} @ {path}.url")
                continue
        built.append((index, spec))
    duplicates = _duplicate_names(built)
    reason = None
    if errors or duplicates:
        reason = "tool_config_invalid" if errors else "duplicate_tool_name"
    return BuiltTools(
        config=config,
        allowed_hosts=allowed_hosts,
        allow_plain_http=allow_plain_http,
        tools=() if reason else tuple(spec for _, spec in built),
        reason=reason,
        errors=tuple(errors + duplicates),
    )


def peek_tenant_limit(raw_config: object) -> int | None:
    """Read ``limits.max_concurrent_calls`` from a raw config document without validating it.

    The capacity step comes before the config is validated; a limit that is not a whole
    number >= 1 counts as no limit (the config then fails validation on its own).
    """
    limits = raw_config.get("limits") if isinstance(raw_config, Mapping) else None
    value = limits.get("max_concurrent_calls") if isinstance(limits, Mapping) else None
    return value if type(value) is int and value >= 1 else None


def peek_tenant_runtime(raw_config: object) -> str:
    """Read ``runtime`` from a raw config document without validating it: ``live`` or ``realtime``.

    Intake needs the runtime before the config is validated, to tell which of a call's two
    webhooks to answer; anything but ``"live"`` reads as ``realtime`` (an invalid value then
    fails validation on the Realtime delivery, so the call is still answered on one surface).
    """
    runtime = raw_config.get("runtime") if isinstance(raw_config, Mapping) else None
    return "live" if runtime == "live" else "realtime"


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _url_problem(url: str, allowed_hosts: frozenset[str], *, allow_plain_http: bool) -> str | None:
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return "url must not contain whitespace or control characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError when out of range
    except ValueError:
        return "url is not a valid URL"
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and allow_plain_http):
        hint = "" if allow_plain_http else " (http only with CALLVISOR_TOOL_ALLOW_HTTP)"
        return f"url must use https{hint}, got " + (repr(scheme) if scheme else "no scheme")
    if not host:
        return "url has no host"
    if parts.username is not None or parts.password is not None:
        return "url must not hold credentials"
    if host not in allowed_hosts:
        return f"host {host!r} is not in CALLVISOR_TOOL_ALLOWED_HOSTS"
    return None


def _duplicate_names(built: list[tuple[int, ToolSpec]]) -> list[str]:
    first: dict[str, int] = {}
    duplicates = []
    for index, spec in built:
        if spec.name in first:
            first_path = f"config.tools[{first[spec.name]}]"
            duplicates.append(
                f"duplicate tool name {spec.name!r} (first used by {first_path})"
                f" @ config.tools[{index}].name"
            )
        else:
            first[spec.name] = index
    return duplicates
