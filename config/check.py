"""``callvisor tenants check``: run every tenant through the call-time rules, offline.

Each tenant goes through the same functions a call uses (``config.resolve``), so a tenant that
passes here fails no call for a configuration reason.  Independent steps are all checked: a
tenant with an empty greeting and a broken tool reports both.  Dependent steps are skipped
(no prompt is looked up without a valid state document; no tool is built from an invalid config).
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import frozen

from .errors import ApplicationError
from .resolve import build_tools, fetch_prompt_text, parse_config, read_state
from .source import PromptKind, TenantSource

LOAD_PROBLEM_EVENT = "tenants_file_problem"
_KINDS: tuple[PromptKind, ...] = ("greeting", "instruction")


@frozen(kw_only=True)
class Problem:
    """One problem found: the tenant (None for the source itself), the guide's event and reason."""

    tenant_id: str | None
    event: str
    reason: str
    details: tuple[str, ...]

    @classmethod
    def from_error(cls, error: ApplicationError) -> Problem:
        """The problem an error describes; its ``errors`` context (if any) become the details."""
        errors = error.context.get("errors")
        details: tuple[str, ...] = (error.message,)
        if isinstance(errors, list) and errors:
            details = tuple(map(str, errors))
        return cls(
            tenant_id=error.tenant_id, event=error.event, reason=error.reason, details=details
        )


async def check_tenants(
    source: TenantSource, *, allowed_hosts: frozenset[str], allow_plain_http: bool
) -> list[Problem]:
    """Every problem of every tenant of ``source``, after the source's own load problems."""
    problems = [
        Problem(tenant_id=None, event=LOAD_PROBLEM_EVENT, reason="load_problem", details=(line,))
        for line in source.load_problems
    ]
    for tenant_id in await source.list_tenants():
        problems.extend(
            await check_tenant(
                source, tenant_id, allowed_hosts=allowed_hosts, allow_plain_http=allow_plain_http
            )
        )
    return problems


async def check_tenant(
    source: TenantSource,
    tenant_id: str,
    *,
    allowed_hosts: frozenset[str],
    allow_plain_http: bool,
) -> list[Problem]:
    """Every problem of one tenant: state, greeting, instruction, config, tools."""
    found: list[ApplicationError] = []
    try:
        pointers = read_state(tenant_id, await source.fetch_state(tenant_id))
    except ApplicationError as error:
        found.append(error)
    else:
        for kind in _KINDS:
            try:
                await fetch_prompt_text(source, tenant_id, kind, pointers)
            except ApplicationError as error:
                found.append(error)
    try:
        config = parse_config(tenant_id, await source.fetch_config(tenant_id))
        build_tools(
            tenant_id, config, allowed_hosts=allowed_hosts, allow_plain_http=allow_plain_http
        )
    except ApplicationError as error:
        found.append(error)
    return [Problem.from_error(error) for error in found]


def format_problem(problem: Problem) -> str:
    """One human line: ``tenant: event (reason): detail; detail``."""
    who = problem.tenant_id if problem.tenant_id is not None else "(source)"
    return f"{who}: {problem.event} ({problem.reason}): {'; '.join(problem.details)}"


def format_problems(problems: Sequence[Problem]) -> str:
    """All problems, one line each (empty when there are none)."""
    return "".join(format_problem(problem) + "\n" for problem in problems)
