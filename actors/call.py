"""The call actor: one trio task per incoming call, from decision to teardown.

``run_call`` is started by the supervisor with ``nursery.start``.  Inside its own task it walks
the guide's order (tenant → capacity → instructions → config → tools → accept), reports the
decision through ``task_status.started(decision)`` (the waiting webhook handler answers OpenAI
from it) and, when the call was accepted, lives on to run the call's sideband session until the
call ends.  The capacity slot is an async context manager entered by this task: leaving the
actor's scope releases it, whatever happened.

The only broad ``except`` is at the actor's boundary (``run_call``): it logs
``call_actor_crashed`` with context and, if no decision was reported yet, reports a failed one
(HTTP 503, so OpenAI redelivers).  One call's failure never reaches its siblings.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import httpx2
import trio
from attrs import field, frozen

from config.errors import (
    InstructionsDBError,
    InstructionsMissingError,
    TenantConfigParseError,
    TenantNotConfiguredError,
    TenantResolutionError,
    ToolBuildError,
)
from config.models import CURRENT_SCHEMA_VERSION, TenantConfig, ToolSpec
from config.resolve import (
    Instructions,
    build_tools,
    parse_config,
    peek_tenant_limit,
    peek_tenant_runtime,
    resolve_instructions,
    resolve_tenant,
)
from config.settings import Settings
from config.source import TenantSource

from .control import CallControl
from .decision import SIP_STATUS_BY_REASON, Decision, DecisionHooks, Outcome, Reporter
from .errors import CallControlError, CallGoneError, CallRefused
from .handle import CallHandle
from .log import call_context, log_event, tenant_id_var
from .runtime import LIVE, RUNTIMES, CallRuntime, not_the_tenants_runtime, sip_call_id
from .tls import TlsSessions
from .tools import HTTP_TOOLS_IN_FLIGHT

#: The tenant of a call whose number could not be routed because the store was down.
UNKNOWN_TENANT = "unknown"


@frozen(kw_only=True)
class IncomingCall:
    """A verified incoming-call webhook, as the actor needs it.

    ``runtime`` is the surface it came from: ``realtime`` (``realtime.call.incoming``, its
    ``call_id``) or ``live`` (``live.transport.incoming``, its ``session_id`` as ``call_id``).
    """

    call_id: str
    webhook_id: str
    sip_headers: Sequence[Mapping[str, Any]]
    received_at: float
    runtime: str = "realtime"


@frozen(kw_only=True)
class CallPlan:
    """Everything decided about an accepted call."""

    tenant_id: str
    config: TenantConfig
    instructions: Instructions
    tools: tuple[ToolSpec, ...]

    @property
    def runtime(self) -> CallRuntime:
        """The runtime the call runs on: the accept body, the REST paths, the session."""
        return RUNTIMES[self.config.runtime]

    def accept_session(self) -> dict[str, Any]:
        """The session of the accept request, in the runtime's wire format."""
        return self.runtime.accept_session(self.config, self.instructions.instructions, self.tools)


class Admission(Protocol):
    """The supervisor's side of a call's life: capacity slot and registry entry in one."""

    def slot(
        self, call: CallHandle, *, tenant_limit: int | None
    ) -> AbstractAsyncContextManager[None]:
        """Hold a slot for ``call`` until the block exits; raise CallRefused on entry."""
        ...


class CallHooks(DecisionHooks, Protocol):
    """What the actor reports for metrics (``decided`` is the decision's, actors.decision)."""

    def ended(self, call: CallHandle, *, reason: str, duration_s: float) -> None: ...
    def fallback_used(self) -> None: ...
    def tool_run(self, tool: str, outcome: str) -> None: ...
    def control_sent(self, *, overhead_s: float) -> None: ...


class SessionRunner(Protocol):
    """Runs an accepted call's sideband session until the call ends (actors.session)."""

    async def __call__(self, call: CallHandle, plan: CallPlan, env: CallEnv) -> None: ...


@frozen(kw_only=True)
class CallEnv:
    """What every call actor is given."""

    settings: Settings
    source: TenantSource
    control: CallControl
    admission: Admission
    hooks: CallHooks
    run_session: SessionRunner
    #: Runs a GPT-Live call's session (``run_session`` is the Realtime one's; actors.live_session).
    run_live_session: SessionRunner
    tool_http: httpx2.AsyncClient
    #: The process's one client TLS context (actors.tls), for the sideband.
    tls: ssl.SSLContext
    #: The sideband's TLS sessions, resumed by the next call (actors.tls.TlsSessions).
    tls_sessions: TlsSessions = field(factory=TlsSessions)
    #: Bounds the http tool requests in flight (see actors.tools.HTTP_TOOLS_IN_FLIGHT).
    tool_limiter: trio.CapacityLimiter = field(factory=lambda: trio.CapacityLimiter(HTTP_TOOLS_IN_FLIGHT))


async def run_call(
    incoming: IncomingCall,
    env: CallEnv,
    *,
    task_status: trio.TaskStatus[Decision] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Decide on ``incoming`` and, if accepted, supervise the call until it ends."""
    sip_id = sip_call_id(incoming.sip_headers)
    call = CallHandle(call_id=incoming.call_id, received_at=incoming.received_at, runtime=incoming.runtime, sip_call_id=sip_id)
    call.task = trio.lowlevel.current_task()
    reporter = Reporter(task_status, env.hooks, call)
    # A call outlives its webhook by minutes or hours, so its frames keep nothing of it.  The
    # task status holds the nursery of the task that started us (the webhook request's, and
    # with it the whole request): only the reporter keeps it, until the decision is reported.
    del task_status
    with call_context(call_id=call.call_id):
        try:
            route = await _route(call, incoming.sip_headers, incoming.runtime, env, reporter)
            del incoming  # its last use: routing the dialed number
            if route is not None:
                await _run(call, route, env, reporter)
        except* Exception as group:
            errors = group.exceptions
            log_event(
                logging.ERROR,
                "call_actor_crashed",
                "call actor failed unexpectedly; only this call is affected",
                error=errors[0],
                errors=len(errors),
                state=call.state,
            )
            logging.getLogger("callvisor").debug("call actor traceback", exc_info=group)
            if reporter.decision is None:
                reporter.report(Outcome.FAILED, reason="internal_error")


@frozen
class _Route:
    """Where a routed call goes: its tenant, the tenant's raw config or the store's failure."""

    tenant_id: str
    raw_config: Mapping[str, Any] | None
    outage: InstructionsDBError | None


async def _route(
    call: CallHandle,
    sip_headers: Sequence[Mapping[str, Any]],
    runtime: str,
    env: CallEnv,
    reporter: Reporter,
) -> _Route | None:
    """The dialed number's tenant (set on ``call``) and its raw config; None when decided here
    (rejected, or ignored as the webhook of the runtime the tenant does not use)."""
    outage: InstructionsDBError | None = None
    try:
        _number, tenant_id = await resolve_tenant(
            env.source, sip_headers, default_region=env.settings.default_region
        )
    except TenantResolutionError as err:
        # No tenant, no runtime of its own: the call is the default runtime's, and only that
        # webhook is rejected (a second reject on the other surface would be refused).
        if (ignored := not_the_tenants_runtime(runtime, "realtime", sip_headers)) is not None:
            reporter.report(Outcome.IGNORED, reason=ignored)
            return None
        log_event(logging.ERROR, err.event, "no tenant for the dialed number", error=err)
        await _reject(call, env, reporter, rejected=err.event, reason=err.reason)
        return None
    except InstructionsDBError as err:
        # The store is down and this replica never routed the number.  It reached our SIP
        # trunk, so it is one of our tenants': the caller hears the downtime greeting (under
        # the global limit, as tenant "unknown") rather than a busy tone.
        tenant_id, outage = UNKNOWN_TENANT, err
    call.tenant_id = tenant_id
    tenant_id_var.set(tenant_id)
    raw_config: Mapping[str, Any] | None = None
    if outage is None:
        try:
            raw_config = await env.source.fetch_config(tenant_id)
        except InstructionsDBError as err:
            outage = err
    # Decided before the slot: the other surface's webhook of this call takes it.
    ignored = not_the_tenants_runtime(runtime, peek_tenant_runtime(raw_config), sip_headers)
    if ignored is not None:
        reporter.report(Outcome.IGNORED, reason=ignored)
        return None
    return _Route(tenant_id, raw_config, outage)


async def _run(call: CallHandle, route: _Route, env: CallEnv, reporter: Reporter) -> None:
    try:
        async with env.admission.slot(call, tenant_limit=peek_tenant_limit(route.raw_config)):
            plan = await _plan(call, route.tenant_id, route.raw_config, route.outage, env, reporter)
            if plan is not None and await _accept(call, plan, env, reporter):
                runner = env.run_live_session if plan.runtime is LIVE else env.run_session
                await runner(call, plan, env)
    except CallRefused as refused:
        await _reject(call, env, reporter, rejected=refused.rejected, reason=refused.reason)


async def _plan(
    call: CallHandle,
    tenant_id: str,
    raw_config: Mapping[str, Any] | None,
    outage: InstructionsDBError | None,
    env: CallEnv,
    reporter: Reporter,
) -> CallPlan | None:
    """Instructions, config and tools in the guide's order; None when the call was rejected.

    A tenant-store failure (``outage``, or one while fetching instructions) does not reject
    the call: it is accepted with the downtime greeting and prompt, default model and voice,
    and no tools, and ``fallback_instructions_used`` increments.
    """
    settings = env.settings
    if outage is None:
        try:
            instructions = await resolve_instructions(env.source, tenant_id)
        except InstructionsDBError as err:
            outage = err
        except (TenantNotConfiguredError, InstructionsMissingError) as err:
            log_event(logging.ERROR, err.event, "tenant instructions cannot be resolved", error=err)
            await _reject(call, env, reporter, rejected=err.event, reason=err.reason)
            return None
    if outage is not None:
        log_event(logging.ERROR, outage.event, "tenant store failed; using fallback prompts", error=outage)
        env.hooks.fallback_used()
        fallback = Instructions(
            greeting=settings.downtime_greeting,
            instructions=settings.downtime_prompt,
            greeting_id=None,
            instruction_id=None,
            fallback=True,
        )
        config = _config_or_default(tenant_id, raw_config, call.runtime)
        return CallPlan(tenant_id=tenant_id, config=config, instructions=fallback, tools=())
    try:
        config = parse_config(tenant_id, raw_config)
    except (TenantNotConfiguredError, TenantConfigParseError) as err:
        log_event(logging.ERROR, err.event, "tenant config is unusable", error=err)
        await _reject(call, env, reporter, rejected=err.event, reason=err.reason)
        return None
    try:
        tools = build_tools(
            tenant_id,
            config,
            allowed_hosts=settings.tool_allowed_hosts,
            allow_plain_http=settings.tool_allow_plain_http,
        )
    except ToolBuildError as err:
        log_event(logging.ERROR, err.event, "tools could not be built; call proceeds without tools", error=err)
        tools = ()
    return CallPlan(tenant_id=tenant_id, config=config, instructions=instructions, tools=tools)


def _config_or_default(tenant_id: str, raw_config: Mapping[str, Any] | None, runtime: str) -> TenantConfig:
    """The tenant's config if it was fetched and is valid, else the defaults of the call's
    runtime (fallback calls)."""
    try:
        return parse_config(tenant_id, raw_config)
    except (TenantNotConfiguredError, TenantConfigParseError):
        return TenantConfig(schema_version=CURRENT_SCHEMA_VERSION, runtime=runtime)


async def _accept(call: CallHandle, plan: CallPlan, env: CallEnv, reporter: Reporter) -> bool:
    """Accept through OpenAI and report the decision; False when the call was not accepted."""
    call.state = "accepting"
    sent_at = trio.current_time()
    decision_ms = round((sent_at - call.received_at) * 1000, 3)
    env.hooks.control_sent(overhead_s=sent_at - call.received_at)
    try:
        await env.control.accept(call.call_id, plan.accept_session(), runtime=plan.runtime)
    except CallGoneError as err:
        log_event(logging.WARNING, err.event, "accept: the caller is gone", error=err)
        reporter.report(Outcome.GONE)
        return False
    except CallControlError as err:
        log_event(logging.ERROR, err.event, "accept failed; OpenAI will redeliver", error=err)
        reporter.report(Outcome.FAILED, reason="call_accept_failed")
        return False
    now = trio.current_time()
    call.state = "accepted"
    call.accepted_at = now
    call.deadline = now + plan.config.limits.max_call_duration_s
    log_event(
        logging.INFO,
        "call_accepted",
        "call accepted",
        runtime=plan.runtime.name,
        sip_call_id=call.sip_call_id,
        model=plan.config.model,
        voice=plan.config.voice,
        tools=[tool.name for tool in plan.tools],
        fallback=plan.instructions.fallback,
        decision_ms=decision_ms,
        accept_ms=round((now - sent_at) * 1000, 3),
    )
    reporter.report(Outcome.ACCEPTED)
    return True


async def _reject(
    call: CallHandle, env: CallEnv, reporter: Reporter, *, rejected: str, reason: str
) -> None:
    """Reject through OpenAI with the SIP status for ``rejected`` and report the decision."""
    sip_status = SIP_STATUS_BY_REASON[rejected]
    call.state = "rejecting"
    env.hooks.control_sent(overhead_s=trio.current_time() - call.received_at)
    try:
        await env.control.reject(call.call_id, sip_status=sip_status, runtime=RUNTIMES[call.runtime])
    except CallGoneError as err:
        log_event(logging.WARNING, err.event, "reject: the caller is gone", error=err)
        reporter.report(Outcome.GONE)
        return
    except CallControlError as err:
        log_event(logging.ERROR, err.event, "reject failed; OpenAI will redeliver", error=err)
        reporter.report(Outcome.FAILED, reason="call_reject_failed")
        return
    log_event(
        logging.INFO,
        "call_rejected",
        "call rejected",
        rejected=rejected,
        reason=reason,
        sip_status=sip_status,
        sip_call_id=call.sip_call_id,
    )
    reporter.report(Outcome.REJECTED, reason=rejected, sip_status=sip_status, cause=reason)
