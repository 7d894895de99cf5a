"""No leaks: whatever ends a call, and however badly, the slot, the registry entry and the sideband go."""

from __future__ import annotations

import gc
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from tests.rig import GLOBEX, WAIT_S

if TYPE_CHECKING:
    from supervisor.testing import SimulatedCall
    from tests.lifecycle.conftest import Driver, ToolEndpoint

CONTROL_TIMEOUT_S = 3.0  # CALLVISOR_CALL_CONTROL_TIMEOUT_S default


async def test_concurrent_calls_ending_every_way_leave_nothing_behind(
    tool_driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """Calls ending at the same time by every path all log their reason; nothing stays registered or open."""
    driver = tool_driver
    driver.platform.audio_duration_s = 2.0
    driver.platform.fail_connect(call_id="rtc_mix_no_session", times=100)
    calls: dict[str, SimulatedCall] = {}
    for call_id in ("rtc_mix_hangup", "rtc_mix_drop", "rtc_mix_end_call", "rtc_mix_transfer",
                    "rtc_mix_operator", "rtc_mix_tool_error"):
        calls[call_id] = await driver.start(call_id)
    globex = await driver.start("rtc_mix_globex", to=GLOBEX)

    async def hang_up(call: SimulatedCall) -> None:
        await call.caller_hangup()

    async def drop(call: SimulatedCall) -> None:
        await call.abort()

    async def end_call(call: SimulatedCall) -> None:
        await call.function_call("end_call", "{}")

    async def transfer(call: SimulatedCall) -> None:
        await call.function_call("transfer_call", "{}")

    async def operator(call: SimulatedCall) -> None:
        response = await driver.admin("POST", f"/actors/{call.call_id}/hangup")
        assert response.status_code == 202

    async def tool_error(call: SimulatedCall) -> None:
        await driver.function_call(call, "launch_rockets", "{}")
        await driver.log("tool_execution_failed", call.call_id)
        await call.abort()

    async def no_session() -> None:
        response = await driver.rig.call("rtc_mix_no_session")
        assert response.json() == {"ok": True, "accepted": "rtc_mix_no_session"}

    async def rejected() -> None:
        response = await driver.rig.call("rtc_mix_globex_2", to=GLOBEX)
        assert response.json() == {"ok": True, "rejected": "capacity"}
        await globex.caller_hangup()

    with trio.fail_after(WAIT_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(hang_up, calls["rtc_mix_hangup"])
            nursery.start_soon(drop, calls["rtc_mix_drop"])
            nursery.start_soon(end_call, calls["rtc_mix_end_call"])
            nursery.start_soon(transfer, calls["rtc_mix_transfer"])
            nursery.start_soon(operator, calls["rtc_mix_operator"])
            nursery.start_soon(tool_error, calls["rtc_mix_tool_error"])
            nursery.start_soon(no_session)
            nursery.start_soon(rejected)

    expected = {
        "rtc_mix_hangup": "caller_hangup",
        "rtc_mix_drop": "caller_hangup",
        "rtc_mix_end_call": "end_call",
        "rtc_mix_transfer": "transferred",
        "rtc_mix_operator": "operator_hangup",
        "rtc_mix_tool_error": "caller_hangup",
        "rtc_mix_no_session": "session_start_failed",
        "rtc_mix_globex": "caller_hangup",
    }
    reasons = {call_id: (await driver.ended(call_id))["reason"] for call_id in expected}
    assert reasons == expected
    assert driver.logs.events("call_ended", call_id="rtc_mix_globex_2") == []
    assert driver.logs.events("call_actor_crashed") == []
    await driver.assert_no_leaks()
    samples = await driver.metrics()
    assert sum(samples.named("callvisor_calls_active").values()) == 0
    assert samples.value("callvisor_calls_total", outcome="ended", reason="caller_hangup") == 4


@pytest.mark.parametrize("ending", ["caller", "operator"])
async def test_call_ending_while_a_tool_runs_cancels_the_tool(
    tool_driver: Driver, tool_endpoint: ToolEndpoint, ending: str, mock_clock: trio.testing.MockClock
) -> None:
    """A call ending mid-tool does not wait for the tool: the tool is cancelled and nothing is sent for it."""
    tool_endpoint.hold = trio.Event()  # never set: the endpoint never answers
    call = await tool_driver.start(f"rtc_mid_tool_{ending}")
    tool_call_id = await tool_driver.function_call(call, "lookup_order", '{"order_number": "A1"}')
    await tool_endpoint.wait_request()
    ending_at = trio.current_time()
    if ending == "caller":
        ended = await tool_driver.caller_hangup(call)
        assert ended["reason"] == "caller_hangup"
    else:
        assert (await tool_driver.admin("POST", f"/actors/{call.call_id}/hangup")).status_code == 202
        ended = await tool_driver.ended(call.call_id)
        assert ended["reason"] == "operator_hangup"
    assert trio.current_time() - ending_at < 1.0  # not the tool's 4 s timeout
    assert tool_driver.tool_outputs(call, tool_call_id) == []
    assert tool_driver.logs.events("tool_execution_failed") == []
    await tool_driver.assert_no_leaks()
    samples = await tool_driver.metrics()
    assert samples.named("callvisor_tool_runs_total") == {}


def _fail_hangup(driver: Driver, call_id: str) -> None:
    driver.platform.fail("hangup", call_id=call_id, status=500)


def _stall_hangup(driver: Driver, call_id: str) -> None:
    driver.platform.delay("hangup", 30.0, call_id=call_id)


@pytest.mark.parametrize(
    ("script", "reason"),
    [(_fail_hangup, "openai_5xx"), (_stall_hangup, "timeout")],
    ids=["hangup_500", "hangup_stalls"],
)
async def test_failed_hangup_is_logged_and_the_slot_is_freed_anyway(
    driver: Driver, script: Any, reason: str, mock_clock: trio.testing.MockClock
) -> None:
    """A hangup answered 500 or never answered: call_hangup_failed, and the call still ends and frees its slot."""
    call_id = f"rtc_bad_hangup_{reason}"
    await driver.start(call_id)
    script(driver, call_id)
    asked_at = trio.current_time()
    first = await driver.admin("POST", f"/actors/{call_id}/hangup")
    assert first.json()["already_ending"] is False
    if reason == "timeout":
        await driver.request("hangup", call_id)  # the hangup is in flight, the call still ending
        second = await driver.admin("POST", f"/actors/{call_id}/hangup")
        assert second.status_code == 202
        assert second.json()["already_ending"] is True
        assert (await driver.admin("GET", f"/actors/{call_id}")).json()["state"] == "ending"
    failed = await driver.log("call_hangup_failed", call_id)
    assert failed["level"] == "ERROR"
    assert failed["error"]["reason"] == reason
    ended = await driver.ended(call_id)
    assert ended["reason"] == "operator_hangup"
    assert trio.current_time() - asked_at < CONTROL_TIMEOUT_S + 2.0 + 1.0
    await driver.assert_no_leaks()


def _finished_tasks() -> dict[int, str]:
    """Tasks still reachable in this process that are no longer in trio's task tree, by id."""
    running: set[int] = set()
    tasks = [trio.lowlevel.current_root_task()]
    while tasks:
        task = tasks.pop()
        running.add(id(task))
        for nursery in task.child_nurseries:
            tasks.extend(nursery.child_tasks)
    gc.collect()
    return {
        id(task): task.name
        for task in gc.get_objects()
        if isinstance(task, trio.lowlevel.Task) and id(task) not in running
    }


async def test_live_calls_keep_nothing_of_their_webhook_requests(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """Live calls keep no finished task alive: the webhook request that started each goes once answered."""
    # The first call opens the keep-alive connection (hypercorn keeps its latest request's task).
    calls = [await driver.start("rtc_keeps_nothing_0")]
    before = Counter(_finished_tasks().values())
    calls += [await driver.start(f"rtc_keeps_nothing_{n}") for n in (1, 2, 3)]
    assert Counter(_finished_tasks().values()) - before == Counter()
    for call in calls:
        await driver.caller_hangup(call)
    await driver.assert_no_leaks()
