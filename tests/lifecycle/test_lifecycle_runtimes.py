"""One scenario table, run for both runtimes: a Realtime tenant and a GPT-Live tenant, alike.

Two tenants that differ only in ``runtime`` (tenants below) go through the same scenarios:
accept, each rejection, capacity, tools, end_call, transfer (and a failed one), caller and operator hangup,
session start failure and drain.  What a scenario asserts is what a user sees on either
runtime: the answer to the webhook, the requests OpenAI received (on the runtime's own REST
paths), the log lines and the operator port.  Where the runtimes' wires differ (the greeting
event, the tool output event, how a caller hangs up) the :class:`Runtime` of the table says so,
and every client event callvisor sent is checked against the openai SDK's own types at the
end of each scenario (tests/wire.py).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import trio
import trio.testing
from attrs import frozen

from supervisor.testing import SimulatedCall, SimulatedLiveSession
from tests.lifecycle.conftest import Driver, ToolEndpoint
from tests.rig import WAIT_S, open_rig
from tests.wire import check_client_events

TENANTS = """
tenants:
{tenants}
"""
TENANT = """
  - id: table-{runtime}
    phone_numbers: ["{number}"]
    state: {{greeting_id: hello, instruction_id: main}}
    config:
      schema_version: 1
      runtime: {runtime}
      limits: {{max_concurrent_calls: 1, max_call_duration_s: 600}}
      tools:
        - kind: end_call
        - kind: transfer_call
          target_uri: "tel:+14155550300"
        - kind: http
          name: lookup_order
          description: Look up an order.
          url: https://tools.acme.example/orders
          parameters: {{type: object, properties: {{order_number: {{type: string}}}}}}
          timeout_s: 4
    prompts:
      greetings: {{hello: "Table {runtime}, hello."}}
      instructions: {{main: "You help callers of the table."}}
  - id: table-{runtime}-unconfigured
    phone_numbers: ["{unconfigured}"]
    config: {{schema_version: 1, runtime: {runtime}}}
    prompts: {{greetings: {{g: hi}}, instructions: {{i: help}}}}
  - id: table-{runtime}-no-greeting
    phone_numbers: ["{no_greeting}"]
    state: {{greeting_id: g, instruction_id: i}}
    config: {{schema_version: 1, runtime: {runtime}}}
    prompts: {{greetings: {{g: ""}}, instructions: {{i: help}}}}
  - id: table-{runtime}-bad-config
    phone_numbers: ["{bad_config}"]
    state: {{greeting_id: g, instruction_id: i}}
    config: {{schema_version: 1, runtime: {runtime}, limits: {{max_call_duration_s: -1}}}}
    prompts: {{greetings: {{g: hi}}, instructions: {{i: help}}}}
"""
#: How long the simulated model speaks each answer (its goodbye included), virtual seconds.
SPEECH_S = 2.0
#: Live's reflected audio in frames of 250 ms here (20 ms is real): each paced frame costs a
#: mock-clock jump, and what is tested is when speech ends, not the frames' size.
FRAME_MS = 250
SHIPPED = {"ok": True, "result": {"order_number": "A-1", "status": "shipped"}}


@frozen
class Runtime:
    """What a scenario needs to know of one runtime: its numbers and where its wires differ."""

    name: str
    #: The tenant's numbers: healthy, without state, without greeting, with a broken config.
    number: str
    unconfigured: str
    no_greeting: str
    bad_config: str
    #: The greeting's client event and the event that carries a tool's output.
    greeting_type: str
    output_type: str
    #: How the model is told something happened: the event, and which of its kind it is.
    told: tuple[str, int]

    def sip(self, number: str) -> str:
        return f"sip:{number}@sip.example.com"

    def call_id(self, scenario: str) -> str:
        return f"{'rtc' if self.name == 'realtime' else 'live'}_{scenario}"

    async def place(self, driver: Driver, call_id: str, number: str | None = None) -> dict[str, Any]:
        """Deliver this runtime's webhook for ``call_id``; the JSON answer."""
        to = self.sip(number or self.number)
        with trio.fail_after(WAIT_S):
            if self.name == "live":
                response = await driver.rig.live_call(call_id, to=to)
            else:
                response = await driver.rig.call(call_id, to=to)
        assert response.status_code == 200
        answer: dict[str, Any] = response.json()
        return answer

    async def function_call(
        self, peer: SimulatedCall | SimulatedLiveSession, name: str, arguments: str, call_id: str
    ) -> str:
        """The model calls ``name`` (Realtime names the id ``tool_call_id``, Live ``call_id``)."""
        with trio.fail_after(WAIT_S):
            if isinstance(peer, SimulatedLiveSession):
                return await peer.function_call(name, arguments, call_id=call_id)
            return await peer.function_call(name, arguments, tool_call_id=call_id)

    def peer(self, driver: Driver, call_id: str) -> SimulatedCall | SimulatedLiveSession:
        """The platform's side of the call's sideband."""
        if self.name == "live":
            return driver.platform.live_session(call_id)
        return driver.platform.call(call_id)


REALTIME = Runtime(
    "realtime", "+18005550300", "+18005550301", "+18005550302", "+18005550303",
    greeting_type="response.create", output_type="conversation.item.create",
    told=("conversation.item.create", 2),  # after the tool's output
)
LIVE = Runtime(
    "live", "+18005550310", "+18005550311", "+18005550312", "+18005550313",
    greeting_type="session.commentary.append", output_type="response.item.create",
    told=("session.instructions.append", 1),
)


@pytest.fixture(params=[REALTIME, LIVE], ids=lambda runtime: runtime.name)
def runtime(request: pytest.FixtureRequest) -> Runtime:
    result: Runtime = request.param
    return result


@pytest.fixture
async def table(
    tmp_path: Path, tool_endpoint: ToolEndpoint, runtime: Runtime
) -> AsyncIterator[Driver]:
    """Both runtimes' tenants on one rig (each scenario uses its runtime's); after the
    scenario, every client event sent on any sideband validates against the SDK."""
    tenants = "".join(
        TENANT.format(
            runtime=r.name, number=r.number, unconfigured=r.unconfigured,
            no_greeting=r.no_greeting, bad_config=r.bad_config,
        )
        for r in (REALTIME, LIVE)
    )
    path = tmp_path / "tenants.yaml"
    path.write_text(textwrap.dedent(TENANTS.format(tenants=tenants)), encoding="utf-8")
    env = {"CALLVISOR_TENANTS_FILE": str(path)}
    async with open_rig(env, tool_transport=httpx2.MockTransport(tool_endpoint.handle)) as rig:
        rig.platform.audio_duration_s = SPEECH_S
        rig.platform.audio_frame_ms = FRAME_MS
        driver = Driver(rig)
        yield driver
        sent = sum(check_client_events("realtime", call.client_events) for call in rig.platform.calls.values())
        sent += sum(check_client_events("live", s.client_events) for s in rig.platform.live_sessions.values())
        assert sent or not rig.platform.open_sidebands()


async def start(driver: Driver, runtime: Runtime, scenario: str) -> tuple[str, SimulatedCall | SimulatedLiveSession]:
    """An accepted call of ``runtime``'s healthy tenant, its sideband up and greeted."""
    call_id = runtime.call_id(scenario)
    assert await runtime.place(driver, call_id) == {"ok": True, "accepted": call_id}
    await driver.rig.wait_session(call_id)
    peer = runtime.peer(driver, call_id)
    with trio.fail_after(WAIT_S):
        await peer.wait_for_client_event(runtime.greeting_type)
    return call_id, peer


async def tool_output(peer: SimulatedCall | SimulatedLiveSession, tool_call_id: str) -> dict[str, Any]:
    with trio.fail_after(WAIT_S):
        event = await peer.wait_tool_output(tool_call_id)
    output: dict[str, Any] = json.loads(event["item"]["output"])
    return output


# -- the scenarios ------------------------------------------------------------------------


async def test_accept_greets_on_the_runtimes_wire(
    table: Driver, runtime: Runtime, mock_clock: trio.testing.MockClock
) -> None:
    """Accepted on the runtime's path; greeted with its event; live in GET /actors."""
    call_id, peer = await start(table, runtime, "accept")
    accept = await table.request("accept", call_id)
    assert accept.runtime == runtime.name
    greeting = next(e for e in peer.client_events if e["type"] == runtime.greeting_type)
    assert "Table " + runtime.name + ", hello." in json.dumps(greeting)
    accepted = await table.log("call_accepted", call_id)
    assert (accepted["tenant_id"], accepted["runtime"]) == (f"table-{runtime.name}", runtime.name)
    view = (await table.admin("GET", f"/actors/{call_id}")).json()
    assert (view["state"], view["tenant_id"]) == ("live", f"table-{runtime.name}")
    await table.caller_hangup(peer)  # type: ignore[arg-type]
    await table.assert_no_leaks()


@pytest.mark.parametrize(
    ("which", "rejected"),
    [
        ("unconfigured", "tenant_not_configured"),
        ("no_greeting", "instructions_missing"),
        ("bad_config", "tenant_config_parse_error"),
    ],
)
async def test_each_rejection_on_the_runtimes_path(
    table: Driver, runtime: Runtime, mock_clock: trio.testing.MockClock, which: str, rejected: str
) -> None:
    """A broken tenant is rejected (480) through the runtime's reject, the reason logged."""
    call_id = runtime.call_id(f"reject_{which}")
    answer = await runtime.place(table, call_id, getattr(runtime, which))
    assert answer == {"ok": True, "rejected": rejected}
    reject = await table.request("reject", call_id)
    assert (reject.runtime, reject.body) == (runtime.name, {"status_code": 480})
    line = await table.log("call_rejected", call_id)
    assert (line["rejected"], line["sip_status"]) == (rejected, 480)
    await table.assert_no_leaks()


async def test_capacity_rejects_busy_while_the_slot_is_held(
    table: Driver, runtime: Runtime, mock_clock: trio.testing.MockClock
) -> None:
    """The tenant allows one call: a second is rejected 486 on the runtime's path; once the
    first ends, a third is accepted."""
    _first_id, first = await start(table, runtime, "cap1")
    second_id = runtime.call_id("cap2")
    assert await runtime.place(table, second_id) == {"ok": True, "rejected": "capacity"}
    reject = await table.request("reject", second_id)
    assert (reject.runtime, reject.body) == (runtime.name, {"status_code": 486})
    tree = await table.actors()
    assert tree["capacity"]["by_tenant"] == {f"table-{runtime.name}": 1}
    await table.caller_hangup(first)  # type: ignore[arg-type]
    _third_id, third = await start(table, runtime, "cap3")
    await table.caller_hangup(third)  # type: ignore[arg-type]
    await table.assert_no_leaks()


async def test_tools_answer_the_model_on_the_runtimes_wire(
    table: Driver, runtime: Runtime, tool_endpoint: ToolEndpoint, mock_clock: trio.testing.MockClock
) -> None:
    """An http tool's answer, and an unknown tool's error, reach the model in the runtime's
    output event; a call_id seen twice runs once."""
    call_id, peer = await start(table, runtime, "tools")
    looked_up = await runtime.function_call(peer, "lookup_order", '{"order_number": "A-1"}', "call_t1")
    assert await tool_output(peer, looked_up) == SHIPPED
    missing = await runtime.function_call(peer, "no_such_tool", "{}", "call_t2")
    output = await tool_output(peer, missing)
    assert (output["ok"], output["error"]) == (False, "tool_not_found")
    await runtime.function_call(peer, "lookup_order", '{"order_number": "A-1"}', "call_t1")
    await table.log("tool_call_refused", call_id)
    outputs = [e for e in peer.client_events if e["type"] == runtime.output_type]
    assert [e["item"]["call_id"] for e in outputs] == ["call_t1", "call_t2"]
    assert len(tool_endpoint.requests) == 1
    await table.caller_hangup(peer)  # type: ignore[arg-type]
    await table.assert_no_leaks()


async def test_end_call_hangs_up_after_the_goodbye_played(
    table: Driver, runtime: Runtime, mock_clock: trio.testing.MockClock
) -> None:
    """end_call: the output is sent, the model's goodbye plays (2 s), then the call is hung up
    on the runtime's path and ends as end_call."""
    call_id, peer = await start(table, runtime, "end_call")
    began = trio.current_time()
    await runtime.function_call(peer, "end_call", "{}", "call_end")
    hangup = await table.request("hangup", call_id)
    assert hangup.runtime == runtime.name
    assert trio.current_time() - began >= SPEECH_S
    ended = await table.ended(call_id)
    assert ended["reason"] == "end_call"
    assert table.platform.actions(call_id) == ["accept", "hangup"]
    await table.assert_no_leaks()


async def test_transfer_refers_and_ends_when_the_session_closes(
    table: Driver, runtime: Runtime, mock_clock: trio.testing.MockClock
) -> None:
    """transfer_call: after the goodbye, a refer to the tenant's target on the runtime's path;
    OpenAI then ends the session and the call ends as transferred."""
    call_id, peer = await start(table, runtime, "transfer")
    await runtime.function_call(peer, "transfer_call", "{}", "call_transfer")
    refer = await table.request("refer", call_id)
    assert (refer.runtime, refer.body) == (runtime.name, {"target_uri": "tel:+14155550300"})
    assert (await table.log("call_transfer_requested", call_id))["target_uri"] == "tel:+14155550300"
    ended = await table.ended(call_id)
    assert ended["reason"] == "transferred"
    await table.assert_no_leaks()


async def test_caller_hangup_ends_the_call_without_a_hangup_request(
    table: Driver, runtime: Runtime, mock_clock: trio.testing.MockClock
) -> None:
    """The caller hangs up (Realtime: a 1000 close; Live: session.closed remote_hangup)."""
    call_id, peer = await start(table, runtime, "caller")
    await trio.sleep(30)
    ended = await table.caller_hangup(peer)  # type: ignore[arg-type]
    assert ended["reason"] == "caller_hangup"
    assert 30 <= ended["duration_s"] < 31
    if runtime.name == "live":
        assert ended["closed_reason"] == "remote_hangup"
    assert table.platform.actions(call_id) == ["accept"]
    await table.assert_no_leaks()


async def test_operator_hangup_ends_the_call_on_the_runtimes_path(
    table: Driver, runtime: Runtime, mock_clock: trio.testing.MockClock
) -> None:
    call_id, _peer = await start(table, runtime, "operator")
    response = await table.admin("POST", f"/actors/{call_id}/hangup")
    assert response.status_code == 202
    hangup = await table.request("hangup", call_id)
    assert hangup.runtime == runtime.name
    assert (await table.ended(call_id))["reason"] == "operator_hangup"
    await table.assert_no_leaks()


async def test_session_start_failure_hangs_up_and_frees_the_slot(
    table: Driver, runtime: Runtime, mock_clock: trio.testing.MockClock
) -> None:
    """Every attach answered 404: call_session_start_failed sideband_404, hung up, slot free."""
    call_id = runtime.call_id("start_failed")
    table.platform.fail_connect(call_id=call_id, times=4)
    assert await runtime.place(table, call_id) == {"ok": True, "accepted": call_id}
    failed = await table.log("call_session_start_failed", call_id)
    assert failed["reason"] == "sideband_404"
    hangup = await table.request("hangup", call_id)
    assert hangup.runtime == runtime.name
    assert (await table.ended(call_id))["reason"] == "session_start_failed"
    await table.assert_no_leaks()


async def test_drain_ends_a_live_call_after_the_grace(
    table: Driver, runtime: Runtime, mock_clock: trio.testing.MockClock
) -> None:
    """Draining: a new call is rejected 503; the live one ends as drain once the grace is over."""
    call_id, _peer = await start(table, runtime, "drain")
    supervisor = table.rig.supervisor
    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervisor.drain, 5.0)
        await table.log("drain_started")
        late_id = runtime.call_id("drain_late")
        assert await runtime.place(table, late_id) == {"ok": True, "rejected": "draining"}
        assert (await table.request("reject", late_id)).body == {"status_code": 503}
    assert (await table.ended(call_id))["reason"] == "drain"
    assert (await table.request("hangup", call_id)).runtime == runtime.name
    await table.assert_no_leaks()


async def test_a_failed_transfer_tells_the_model_and_the_call_goes_on(
    table: Driver, runtime: Runtime, mock_clock: trio.testing.MockClock
) -> None:
    """The refer fails (500): logged, the model is told on the runtime's wire, the call stays live."""
    call_id, peer = await start(table, runtime, "transfer_fails")
    table.platform.fail("refer", call_id=call_id, status=500)
    await runtime.function_call(peer, "transfer_call", "{}", "call_transfer")
    assert (await table.log("call_transfer_failed", call_id))["level"] == "ERROR"
    kind, nth = runtime.told
    with trio.fail_after(WAIT_S):
        told = await peer.wait_for_client_event(kind, nth=nth)
    assert "The transfer failed." in json.dumps(told)
    assert (await table.admin("GET", f"/actors/{call_id}")).json()["state"] == "live"
    ended = await table.caller_hangup(peer)  # type: ignore[arg-type]
    assert ended["reason"] == "caller_hangup"
    await table.assert_no_leaks()
