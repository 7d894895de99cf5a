"""No leaks, as a stateful property: whatever happens to calls, slots follow live actors.

Hypothesis writes a *program*: a list of steps (new calls to acme, globex, the GPT-Live tenant
wonka or an unrouted number,
sidebands that come up late or never, redeliveries and concurrent duplicates, scripted accept
500/404, tool calls that work, fail, hang, end or transfer the call, caller and operator hangups,
and a drain).  Each example runs the program in its own ``trio.run`` on a ``MockClock`` against
the real service and the simulated platform on loopback (``supervisor.testing``).

The runner keeps a small model (which calls exist, which are live, which accept failures are
scripted) to predict each HTTP answer and call end, and skips steps that make no sense in the
current state (a tool call when no call is live).  After every step it checks that slots in use
equal the live actors (registry, capacity counters and trio's task tree agree with the model);
at the end, that no slot, actor or sideband is left, and that what the platform received
(accept/reject/hangup/refer) matches what the actors logged.
"""

from __future__ import annotations

import gc
import json
import os
import tempfile
import warnings
from collections import deque
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import httpx2
import trio
import trio.testing
from attrs import define, field, frozen
from hypothesis import event, example, given, note, settings, target
from hypothesis import strategies as st

from supervisor.commands._live_scenarios import demo_tenants
from supervisor.testing import (
    Driver,
    LogTap,
    SimulatedCall,
    SimulatedLiveSession,
    WebhookSigner,
    incoming_call_event,
    live_incoming_event,
    new_secret,
    open_callvisor,
    open_platform,
    settings_for,
)

PROFILE = "thorough" if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else "no-leaks"

LIMIT = 3  # MAX_CONCURRENT_CALLS; globex allows 1 (config/examples/tenants.yaml), wonka 2
#: Each tenant's own limit (wonka-live, the GPT-Live tenant of config/examples/tenants-live.yaml).
TENANT_LIMITS = {"globex": 1, "wonka": 2}
DRAIN_GRACE_S = 30.0
STEP_S = 60.0  # virtual seconds any one step may take
NUMBERS = {
    "acme": "sip:+18005551212@sip.example.com",
    "globex": "sip:+18005550100@sip.example.com",
    "unknown": "sip:+18005550199@sip.example.com",
    "wonka": "sip:+18005550200@sip.example.com",
}
TOOLS = {
    "acme": {"end_call", "transfer_call", "lookup_order"},
    "globex": {"end_call"},
    "wonka": {"end_call", "transfer_call"},
}
#: Tool call kind -> (tool name, arguments, error the model is told or None).
TOOL_CALLS = {
    "lookup": ("lookup_order", '{"order_number": "A1"}', None),
    "lookup_fails": ("lookup_order", '{"order_number": "FAIL"}', "tool_http_error"),
    "lookup_hangs": ("lookup_order", '{"order_number": "SLOW"}', None),
    "unknown": ("nonexistent_tool", "{}", "tool_not_found"),
    "bad_args": ("lookup_order", "{not json", "tool_args_invalid"),
    "end_call": ("end_call", '{"reason": "done"}', None),
    "transfer": ("transfer_call", "{}", None),
    "transfer_fails": ("transfer_call", "{}", None),
}
#: End reasons after which callvisor must hang up through REST.
HANGUP_REASONS = {"end_call", "operator_hangup", "session_start_failed", "drain", "sideband_lost"}


# -- steps ----------------------------------------------------------------------------------


@frozen
class Place:
    """A new call; ``duplicate`` delivers it twice at once (same or a new webhook-id)."""

    tenant: str
    sideband: str = "ok"  # ok | flaky (one 404 first) | dead (404 until it gives up)
    duplicate: str = "none"  # none | same_webhook_id | new_webhook_id


@frozen
class Redeliver:
    call: int
    same_webhook_id: bool


@frozen
class FailNextAccept:
    status: int


@frozen
class ToolCall:
    call: int
    kind: str


@frozen
class CallerHangup:
    call: int
    abrupt: bool


@frozen
class OperatorHangup:
    call: int


@frozen
class Drain:
    pass


Step = Place | Redeliver | FailNextAccept | ToolCall | CallerHangup | OperatorHangup | Drain

_CALL = st.integers(0, 5)
# Repeated entries weight the draw; the first entry is what a failing example shrinks to.
_PLACE = st.builds(
    Place,
    tenant=st.sampled_from(["acme", "acme", "wonka", "globex", "wonka", "unknown"]),
    sideband=st.sampled_from(["ok", "ok", "flaky", "dead"]),
    duplicate=st.sampled_from(["none", "none", "same_webhook_id", "new_webhook_id"]),
)
STEPS = st.one_of(
    _PLACE,
    _PLACE,
    _PLACE,
    st.builds(Redeliver, _CALL, st.booleans()),
    st.builds(FailNextAccept, st.sampled_from([500, 404])),
    st.builds(ToolCall, _CALL, st.sampled_from(sorted(TOOL_CALLS))),
    st.builds(ToolCall, _CALL, st.sampled_from(sorted(TOOL_CALLS))),
    st.builds(CallerHangup, _CALL, st.booleans()),
    st.builds(OperatorHangup, _CALL),
)


@st.composite
def programs(draw: st.DrawFn) -> list[Step]:
    """A first call, then 4 to 20 steps, and sometimes a drain with a few steps after it."""
    steps: list[Step] = [draw(_PLACE), *draw(st.lists(STEPS, min_size=4, max_size=20))]
    if draw(st.booleans()):
        steps += [Drain(), *draw(st.lists(STEPS, max_size=3))]
    return steps


# -- the model ------------------------------------------------------------------------------


@define
class CallModel:
    call_id: str
    tenant: str
    sideband: str
    event: dict[str, Any]
    decision: str | None = None  # accepted | rejected | gone; None while undecided or failed
    live: bool = False
    accept_statuses: list[int] = field(factory=list)  # what the platform answered, in order
    rejected_reason: str | None = None
    end_reason: str | None = None
    expect_hangup: bool = False
    refers: int = 0
    deliveries: int = 0

    @property
    def runtime(self) -> str:
        return "live" if self.tenant == "wonka" else "realtime"


@frozen
class Reply:
    """A predicted answer to one delivery."""

    kind: str  # accepted | rejected | gone | failed | duplicate
    rejected: str | None = None  # what the HTTP answer says
    reason: str | None = None  # rejected: the log line's reason; duplicate: the ledger key

    def http(self, call_id: str) -> tuple[int, dict[str, Any]]:
        if self.kind == "failed":
            return 503, {"ok": False, "error": "call_accept_failed", "retry": True}
        if self.kind == "duplicate":
            return 200, {"ok": True, "duplicate": True}
        if self.kind == "rejected":
            return 200, {"ok": True, "rejected": self.rejected}
        return 200, {"ok": True, self.kind: call_id}


class Orders:
    """The acme order endpoint behind ``lookup_order``: FAIL is a 503, SLOW never answers."""

    def __init__(self) -> None:
        self.slow_entered = trio.Event()

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        order = json.loads(request.content or b"{}").get("order_number")
        if order == "FAIL":
            return httpx2.Response(503, json={"error": "unavailable"})
        if order == "SLOW":
            self.slow_entered.set()
            await trio.sleep_forever()
        return httpx2.Response(200, json={"order_number": order, "status": "shipped"})


@define
class World(Driver):
    """The shared driver over the callvisor under test, and the model of what it should do."""

    orders: Orders
    calls: list[CallModel] = field(factory=list)
    accept_failures: deque[int] = field(factory=deque)
    settled_webhook_ids: set[str] = field(factory=set)
    draining: bool = False
    drained: bool = False

    @property
    def live(self) -> list[CallModel]:
        return [call for call in self.calls if call.live]

    def predict(self, call: CallModel, webhook_id: str) -> Reply:
        """The answer to a delivery of ``call`` now, applied to the model."""
        if call.decision is not None:
            key = "webhook_id" if webhook_id in self.settled_webhook_ids else "call_id"
            reply = Reply("duplicate", reason=key)
        elif call.tenant == "unknown":
            reply = Reply("rejected", "tenant_resolution_failed", "number_not_routed")
        elif self.draining:
            reply = Reply("rejected", "draining", "draining")
        elif call.tenant in TENANT_LIMITS and sum(c.tenant == call.tenant for c in self.live) >= TENANT_LIMITS[call.tenant]:
            reply = Reply("rejected", "capacity", "tenant_capacity")
        elif len(self.live) >= LIMIT:
            reply = Reply("rejected", "capacity", "global_capacity")
        else:
            status = self.accept_failures.popleft() if self.accept_failures else 200
            call.accept_statuses.append(status)
            reply = Reply({200: "accepted", 404: "gone", 500: "failed"}[status])
        if reply.kind != "failed":
            self.settled_webhook_ids.add(webhook_id)
        if reply.kind in ("accepted", "rejected", "gone"):
            call.decision = reply.kind
            call.live = reply.kind == "accepted"
            call.rejected_reason = reply.reason if reply.kind == "rejected" else None
        return reply

    def peer(self, call: CallModel) -> SimulatedCall | SimulatedLiveSession:
        """The platform's side of the call's sideband (a Live call's is its Live session)."""
        if call.runtime == "live":
            return self.platform.live_session(call.call_id)
        return self.platform.call(call.call_id)

    def ended(self, call: CallModel, reason: str, *, expect_hangup: bool) -> None:
        call.live = False
        call.end_reason = reason
        call.expect_hangup = expect_hangup


# -- invariants -----------------------------------------------------------------------------


def live_actor_ids() -> set[str]:
    """call_ids of every ``call:*`` task alive in this trio run (read from trio's task tree)."""
    found: set[str] = set()
    tasks = [trio.lowlevel.current_root_task()]
    while tasks:
        task = tasks.pop()
        if task.name.startswith("call:"):
            found.add(task.name.removeprefix("call:"))
        for nursery in task.child_nurseries:
            tasks.extend(nursery.child_tasks)
    return found


def check_invariants(world: World) -> None:
    supervisor = world.supervisor
    capacity = supervisor.capacity
    registry = set(supervisor.calls)
    assert registry == {call.call_id for call in world.live}, "registry != live calls of the model"
    assert capacity.in_use == len(registry), "slots in use != registered actors"
    assert live_actor_ids() == registry, "call tasks != registered actors"
    assert capacity.in_use <= LIMIT
    assert sum(capacity.by_tenant.values()) == capacity.in_use
    assert capacity.by_tenant.get("globex", 0) <= 1
    assert capacity.by_tenant.get("wonka-live", 0) <= 2
    assert not world.logs.events("call_actor_crashed")


def cross_check(world: World) -> None:
    """What the platform received matches what each actor logged and the model expects."""
    platform, logs = world.platform, world.logs
    assert not world.supervisor.calls
    assert world.supervisor.capacity.in_use == 0
    assert not world.supervisor.capacity.by_tenant
    assert not live_actor_ids()
    assert platform.open_sidebands() == 0
    pending_accept_failures = [s for s in platform.pending_scripts() if s.startswith("fail accept")]
    assert len(pending_accept_failures) == len(world.accept_failures)
    assert not [line for line in logs.lines if line.get("unregistered_event")]
    for call in world.calls:
        cid = call.call_id
        actions = platform.actions(cid)
        accepted = bool(logs.events("call_accepted", call_id=cid))
        assert accepted == (platform.call(cid).accept_body is not None), cid
        assert accepted == (call.decision == "accepted") == (200 in call.accept_statuses), cid
        assert actions.count("accept") == len(call.accept_statuses), cid
        assert all(status == 500 for status in call.accept_statuses[:-1]), f"{cid} accepted twice"
        rejected = logs.events("call_rejected", call_id=cid)
        rejects = [r for r in platform.requests_for(cid) if r.action == "reject"]
        assert len(rejected) == len(rejects) == int(call.decision == "rejected"), cid
        if rejected:
            assert rejected[0]["reason"] == call.rejected_reason, cid
            assert rejects[0].body == {"status_code": rejected[0]["sip_status"]}, cid
        ended = logs.events("call_ended", call_id=cid)
        assert len(ended) == int(accepted), cid
        hangups = actions.count("hangup")
        if ended:
            assert ended[0]["reason"] == call.end_reason, cid
            assert hangups == int(call.expect_hangup), f"{cid}: {actions}"
            if call.runtime == "live":  # no hangup after session.closed, one otherwise
                assert hangups == int(ended[0].get("closed_reason") is None), cid
            else:
                assert hangups == int(ended[0].get("close_code") != 1000), cid
            if call.end_reason in HANGUP_REASONS:
                assert actions[-1] == "hangup", f"{cid}: {actions}"
        else:
            assert hangups == 0, cid
        assert actions.count("refer") == call.refers, cid
        assert world.peer(call).live_connections == 0 if accepted else True, cid


# -- the runner -----------------------------------------------------------------------------


async def deliver(world: World, call: CallModel, webhook_ids: list[str]) -> None:
    """Deliver ``call`` once per webhook-id, all at once; check the answers and the session."""
    was_decided = call.decision
    expected = [world.predict(call, webhook_id) for webhook_id in webhook_ids]
    answers: list[tuple[int, str]] = []

    async def post(webhook_id: str) -> None:
        deliver_on = world.live_call if call.runtime == "live" else world.call
        response = await deliver_on(call.call_id, event=call.event, webhook_id=webhook_id)
        answers.append((response.status_code, json.dumps(response.json(), sort_keys=True)))

    duplicates_before = len(world.logs.events("duplicate_webhook_id", call_id=call.call_id))
    async with trio.open_nursery() as nursery:
        for webhook_id in webhook_ids:
            nursery.start_soon(post, webhook_id)
    for reply in expected:
        event(f"answer {reply.kind} {reply.reason or ''}".rstrip())
    wanted = [reply.http(call.call_id) for reply in expected]
    assert sorted(answers) == sorted((s, json.dumps(b, sort_keys=True)) for s, b in wanted)
    duplicates = world.logs.events("duplicate_webhook_id", call_id=call.call_id)[duplicates_before:]
    assert sorted(d["duplicate_of"] for d in duplicates) == sorted(
        str(r.reason) for r in expected if r.kind == "duplicate"
    )
    assert world.platform.actions(call.call_id).count("accept") == len(call.accept_statuses)
    if call.decision == "rejected" and was_decided is None:
        line = await world.logs.wait_for("call_rejected", call_id=call.call_id)
        assert line["reason"] == call.rejected_reason
    if call.decision == "accepted" and was_decided is None:
        if call.sideband == "dead":
            ended = await world.logs.wait_for("call_ended", call_id=call.call_id)
            assert ended["reason"] == "session_start_failed"
            world.ended(call, "session_start_failed", expect_hangup=True)
        else:
            await world.logs.wait_for("call_session_started", call_id=call.call_id)
            await world.peer(call).wait_connected()
    note(f"  answers {sorted(answers)}")


async def place(world: World, step: Place) -> None:
    live = step.tenant == "wonka"
    call_id = f"{'live' if live else 'rtc'}_{len(world.calls)}"
    incoming = live_incoming_event if live else incoming_call_event
    call = CallModel(
        call_id=call_id, tenant=step.tenant, sideband=step.sideband,
        event=incoming(call_id, to=NUMBERS[step.tenant]),
    )
    world.calls.append(call)
    if step.sideband != "ok":
        # Four handshakes are tried (CONNECT_RETRY_DELAYS_S); "dead" refuses them all.
        world.platform.fail_connect(call_id=call_id, times=1 if step.sideband == "flaky" else 4)
    first = f"wh_{call_id}_0"
    second = {"none": [], "same_webhook_id": [first], "new_webhook_id": [f"wh_{call_id}_1"]}
    call.deliveries = 1 + len(second[step.duplicate])
    await deliver(world, call, [first, *second[step.duplicate]])


async def redeliver(world: World, step: Redeliver) -> None:
    call = world.calls[step.call % len(world.calls)]
    webhook_id = f"wh_{call.call_id}_0" if step.same_webhook_id else f"wh_{call.call_id}_{call.deliveries}"
    call.deliveries += 1
    await deliver(world, call, [webhook_id])


async def tool_call(world: World, step: ToolCall) -> None:
    live = world.live
    call = live[step.call % len(live)]
    sim = world.peer(call)
    name, arguments, error = TOOL_CALLS[step.kind]
    if name not in TOOLS[call.tenant]:
        error = "tool_not_found"
    elif step.kind == "transfer_fails":
        world.platform.fail("refer", call_id=call.call_id, status=500)
    if error is None and step.kind == "lookup_hangs":
        # The tool stays in flight (tool_timeout later, or cancelled when the call ends).
        world.orders.slow_entered = trio.Event()
        await sim.function_call(name, arguments)
        await world.orders.slow_entered.wait()
        return
    if error is None and step.kind in ("end_call", "transfer"):
        await sim.function_call(name, arguments)
        reason = "end_call" if step.kind == "end_call" else "transferred"
        call.refers += step.kind == "transfer"
        ended = await world.logs.wait_for("call_ended", call_id=call.call_id)
        assert ended["reason"] == reason
        world.ended(call, reason, expect_hangup=reason == "end_call")
        return
    if error is None and step.kind == "transfer_fails":
        with LogTap().installed() as fresh:  # this step's lines only
            await sim.function_call(name, arguments)
            call.refers += 1
            await fresh.wait_for("call_transfer_failed", call_id=call.call_id)
        return
    output = await sim.wait_tool_output(await sim.function_call(name, arguments))
    result = json.loads(output["item"]["output"])
    if error is None:
        assert result["ok"] is True, result
    else:
        assert (result["ok"], result["error"]) == (False, error), result


async def caller_hangup(world: World, step: CallerHangup) -> None:
    live = world.live
    call = live[step.call % len(live)]
    sim = world.peer(call)
    if isinstance(sim, SimulatedLiveSession):
        # session.closed remote_hangup; abrupt: TCP dropped and the session gone, so the one
        # reattach meets a 404 and the call is hung up as sideband_lost.
        await (sim.abort(end_call=True) if step.abrupt else sim.caller_hangup())
        reason = "sideband_lost" if step.abrupt else "caller_hangup"
        ended = await world.logs.wait_for("call_ended", call_id=call.call_id)
        assert (ended["reason"], ended["reattached"]) == (reason, step.abrupt)
        world.ended(call, reason, expect_hangup=step.abrupt)
        return
    await (sim.abort() if step.abrupt else sim.caller_hangup())
    ended = await world.logs.wait_for("call_ended", call_id=call.call_id)
    assert ended["reason"] == "caller_hangup"
    assert (ended.get("close_code") == 1000) is not step.abrupt
    world.ended(call, "caller_hangup", expect_hangup=step.abrupt)


async def operator_hangup(world: World, step: OperatorHangup) -> None:
    call = world.calls[step.call % len(world.calls)]
    response = await world.http.post(f"{world.info.admin_url}/actors/{call.call_id}/hangup")
    if not call.live:
        assert response.status_code == 404
        return
    assert response.status_code == 202
    ended = await world.logs.wait_for("call_ended", call_id=call.call_id)
    assert ended["reason"] == "operator_hangup"
    world.ended(call, "operator_hangup", expect_hangup=True)


async def drain(world: World, step: Drain) -> None:
    response = await world.http.post(f"{world.info.admin_url}/drain")
    assert response.status_code == 202
    world.draining = True


def skipped(world: World, step: Step) -> bool:
    """Steps that make no sense now: nothing to act on, or the service has drained and stopped."""
    if world.drained:
        return True
    if isinstance(step, ToolCall | CallerHangup):
        return not world.live
    if isinstance(step, Redeliver | OperatorHangup):
        return not world.calls
    return False


RUNNERS = {
    Place: place,
    Redeliver: redeliver,
    ToolCall: tool_call,
    CallerHangup: caller_hangup,
    OperatorHangup: operator_hangup,
    Drain: drain,
}


async def run_step(world: World, step: Step) -> None:
    if isinstance(step, FailNextAccept):
        world.platform.fail("accept", status=step.status)
        world.accept_failures.append(step.status)
        return
    await RUNNERS[type(step)](world, step)  # type: ignore[operator]


async def finish(world: World) -> None:
    """End what is still live: the drain's grace runs out, or every caller hangs up."""
    if world.draining and not world.drained:
        await world.logs.wait_for("drain_finished")
        for call in world.live:
            ended = await world.logs.wait_for("call_ended", call_id=call.call_id)
            assert ended["reason"] == "drain"
            world.ended(call, "drain", expect_hangup=True)
        world.drained = True
    for call in world.live:
        await world.peer(call).caller_hangup()
        ended = await world.logs.wait_for("call_ended", call_id=call.call_id)
        assert ended["reason"] == "caller_hangup"
        world.ended(call, "caller_hangup", expect_hangup=False)
    await world.platform.wait_sidebands_closed()


async def run_program(program: list[Step], tenants: Path) -> None:
    """Run ``program`` against a fresh platform and callvisor, checking as it goes."""
    signer = WebhookSigner(new_secret())
    logs = LogTap()
    orders = Orders()
    env = {
        "CALLVISOR_TENANTS_FILE": str(tenants),
        "MAX_CONCURRENT_CALLS": str(LIMIT),
        "CALL_SESSION_START_TIMEOUT_S": "2",
        "CALLVISOR_DRAIN_GRACE_S": str(DRAIN_GRACE_S),
        "CALLVISOR_TOOL_ALLOWED_HOSTS": "tools.acme.example",
    }
    with logs.installed():
        async with open_platform() as platform:
            settings = settings_for(platform, signer, env=env)
            async with (
                open_callvisor(settings, tool_transport=httpx2.MockTransport(orders)) as info,
                httpx.AsyncClient(timeout=None) as http,
            ):
                world = World(platform, signer, info, http, logs, orders)
                peak_live = 0
                for step in program:
                    if skipped(world, step):
                        note(f"skip {step}")
                        continue
                    note(f"step {step}")
                    event(f"ran {type(step).__name__}")
                    with trio.fail_after(STEP_S):
                        await run_step(world, step)
                        if world.draining and not world.live and not world.drained:
                            await logs.wait_for("drain_finished")
                            world.drained = True
                    check_invariants(world)
                    peak_live = max(peak_live, len(world.live))
                event(f"peak live calls: {peak_live}")
                target(float(peak_live), label="peak live calls")
                event(f"drained: {world.drained or world.draining}")
                with trio.fail_after(DRAIN_GRACE_S + STEP_S):
                    await finish(world)
                check_invariants(world)
                cross_check(world)


def run_example(program: list[Step]) -> list[str]:
    """Run one example; returns the sockets it left unclosed (ResourceWarning messages).

    Every ResourceWarning of the example is recorded, and a full collection at the end finds
    the sockets only garbage still holds, instead of their warnings surfacing in a later test.
    """
    with warnings.catch_warnings(record=True) as caught, tempfile.TemporaryDirectory() as workdir:
        warnings.simplefilter("always", ResourceWarning)
        tenants = demo_tenants(Path(workdir) / "tenants.yaml")  # the examples and wonka-live
        trio.run(
            partial(run_program, program, tenants),
            clock=trio.testing.MockClock(autojump_threshold=0.05),
        )
        gc.collect()
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


#: Always run (derandomized generation may miss them): every kind of step and outcome.
INTAKE = [
    Place("globex"),
    Place("globex"),  # tenant_capacity
    FailNextAccept(500),
    Place("acme", "flaky", duplicate="new_webhook_id"),  # 503, then accepted by the twin
    FailNextAccept(404),
    Place("acme"),  # gone
    Redeliver(3, same_webhook_id=False),  # duplicate of a gone call
    Place("acme"),  # the third live call
    Place("acme"),  # global_capacity
    Place("unknown"),
    OperatorHangup(1),  # not live: 404
    CallerHangup(0, abrupt=True),
    Place("globex", duplicate="same_webhook_id"),
]
SESSION = [
    Place("acme", "dead"),
    Place("acme"),
    *(ToolCall(0, kind) for kind in ("lookup", "lookup_fails", "bad_args", "unknown")),
    ToolCall(0, "lookup_hangs"),
    ToolCall(0, "transfer_fails"),
    ToolCall(0, "transfer"),
    Place("globex"),
    ToolCall(0, "transfer"),  # globex has no transfer tool
    ToolCall(0, "end_call"),
    Place("acme"),
    CallerHangup(0, abrupt=False),
]
LIVE = [
    Place("wonka"),
    Place("acme"),
    Place("wonka", duplicate="new_webhook_id"),
    Place("wonka"),  # wonka-live's tenant_capacity (2)
    ToolCall(0, "lookup"),  # wonka has no lookup_order: tool_not_found
    ToolCall(0, "transfer_fails"),
    CallerHangup(0, abrupt=True),  # sideband_lost after the reattach meets a 404
    Place("wonka", "flaky"),
    ToolCall(2, "end_call"),
    Place("wonka", "dead"),
    OperatorHangup(2),
    ToolCall(0, "transfer"),
]
DRAIN = [
    Place("acme"),
    Place("globex"),
    ToolCall(0, "lookup_hangs"),
    Drain(),
    Place("acme"),  # draining
    Redeliver(0, same_webhook_id=True),
    OperatorHangup(1),
]


@settings(settings.get_profile(PROFILE))
@given(programs())
@example(INTAKE)
@example(SESSION)
@example(LIVE)
@example(DRAIN)
def test_slots_follow_actors_and_the_platform_agrees(program: list[Step]) -> None:
    """Any interleaving of calls, failures, hangups and drain leaves no slot, actor or socket."""
    assert run_example(program) == []
