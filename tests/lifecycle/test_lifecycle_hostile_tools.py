"""Hostile function calls: huge arguments, hundreds at once, missing or odd fields.

Tool runs per call are bounded (``TOOL_RUNS_PER_CALL`` running, ``TOOL_QUEUE_PER_CALL``
waiting); past that a function call is answered ``too_many_tool_calls`` at once.  Every call
here goes on afterwards, frees its slot, and crashes no actor (:mod:`tests.lifecycle.hostile`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from actors.tool_runs import MAX_TOOL_CALL_ID_CHARS, TOOL_QUEUE_PER_CALL, TOOL_RUNS_PER_CALL
from actors.tools import MAX_ARGUMENT_CHARS
from tests.lifecycle.hostile import assert_call_goes_on
from tests.rig import WAIT_S

if TYPE_CHECKING:
    from supervisor.testing import SimulatedCall
    from tests.lifecycle.conftest import Driver, ToolEndpoint

MiB = 2**20


def order_arguments(chars: int) -> str:
    """lookup_order's arguments, padded to exactly ``chars`` characters."""
    head = json.dumps({"order_number": "A-1", "note": ""})
    return head[:-2] + "n" * (chars - len(head)) + head[-2:]


async def function_call_item(call: SimulatedCall, **item: Any) -> None:
    """Send one ``response.output_item.done`` whose function_call item has exactly these fields."""
    with trio.fail_after(WAIT_S):
        await call.send({"type": "response.output_item.done", "item": {"type": "function_call", "status": "completed", **item}})


def response_creates(call: SimulatedCall) -> int:
    return sum(1 for event in call.client_events if event.get("type") == "response.create")


# -- arguments ------------------------------------------------------------------------------


async def test_function_call_with_1_mib_arguments_is_refused_and_the_call_goes_on(
    tool_driver: Driver, tool_endpoint: ToolEndpoint, mock_clock: trio.testing.MockClock
) -> None:
    """1 MiB of arguments: tool_args_too_large at once, no request to the tool, the model asked to speak."""
    call = await tool_driver.start("rtc_1mib_args")
    tool_call_id = await tool_driver.function_call(call, "lookup_order", order_arguments(MiB))
    output = await tool_driver.tool_output(call, tool_call_id)
    assert output["error"] == "tool_args_too_large"
    assert f"more than {MAX_ARGUMENT_CHARS}" in output["message"]
    await tool_driver.client_event(call.call_id, "response.create", nth=2)  # greeting, then this
    failure = await tool_driver.log("tool_execution_failed", "rtc_1mib_args")
    assert failure["error"]["context"] == {"tool_name": "lookup_order", "arguments_chars": MiB}
    assert tool_endpoint.requests == []
    samples = await tool_driver.metrics()
    assert samples.value("callvisor_tool_runs_total", tool="lookup_order", outcome="tool_args_too_large") == 1
    await assert_call_goes_on(tool_driver, call)


async def test_function_call_with_arguments_at_the_limit_runs(
    tool_driver: Driver, tool_endpoint: ToolEndpoint, mock_clock: trio.testing.MockClock
) -> None:
    """Arguments of exactly MAX_ARGUMENT_CHARS reach the tool."""
    call = await tool_driver.start("rtc_limit_args")
    tool_call_id = await tool_driver.function_call(call, "lookup_order", order_arguments(MAX_ARGUMENT_CHARS))
    assert (await tool_driver.tool_output(call, tool_call_id))["ok"] is True
    assert len(tool_endpoint.requests) == 1
    await assert_call_goes_on(tool_driver, call)


# -- hundreds at once -----------------------------------------------------------------------


async def test_500_function_calls_at_once_are_bounded_and_all_answered(
    tool_driver: Driver, tool_endpoint: ToolEndpoint, mock_clock: trio.testing.MockClock
) -> None:
    """500 slow function calls: 8 run, 32 wait, 460 are told too_many_tool_calls at once; the 40 finish."""
    tool_endpoint.hold = trio.Event()
    call = await tool_driver.start("rtc_500_tools")
    ids = [await tool_driver.function_call(call, "lookup_order", '{"order_number": "A-1"}') for _ in range(500)]
    bounded = TOOL_RUNS_PER_CALL + TOOL_QUEUE_PER_CALL
    for tool_call_id in ids[bounded:]:
        output = await tool_driver.tool_output(call, tool_call_id)
        assert output["error"] == "too_many_tool_calls"
    view = (await tool_driver.admin("GET", "/actors/rtc_500_tools")).json()
    assert view["tools_running"] == ["lookup_order"] * TOOL_RUNS_PER_CALL
    assert view["session"]["tool_calls"] == TOOL_RUNS_PER_CALL
    assert view["session"]["tool_calls_refused"] == 500 - bounded
    assert len([task for task in view["tasks"] if task["task"].startswith("tool:")]) == TOOL_RUNS_PER_CALL
    assert len(tool_endpoint.requests) == TOOL_RUNS_PER_CALL
    assert response_creates(call) == 1  # only the greeting: the refusals leave it to the runs
    [refused] = tool_driver.logs.events("tool_call_refused", call_id="rtc_500_tools")
    assert (refused["level"], refused["reason"], refused["tool_call_id"]) == ("WARNING", "too_many_tool_calls", ids[bounded])
    assert (refused["running"], refused["queued"]) == (TOOL_RUNS_PER_CALL, TOOL_QUEUE_PER_CALL)

    tool_endpoint.hold.set()
    for tool_call_id in ids[:bounded]:
        assert (await tool_driver.tool_output(call, tool_call_id))["ok"] is True
    assert len(tool_endpoint.requests) == bounded
    samples = await tool_driver.metrics()
    assert samples.value("callvisor_tool_runs_total", tool="lookup_order", outcome="ok") == bounded
    assert samples.value("callvisor_tool_runs_total", tool="lookup_order", outcome="too_many_tool_calls") == 500 - bounded
    await assert_call_goes_on(tool_driver, call)
    ended = tool_driver.logs.events("call_ended", call_id="rtc_500_tools")[0]
    assert (ended["tool_calls"], ended["tool_calls_refused"]) == (bounded + 1, 500 - bounded)


async def test_queued_function_calls_run_in_order_as_runs_finish(
    tool_driver: Driver, tool_endpoint: ToolEndpoint, mock_clock: trio.testing.MockClock
) -> None:
    """A queued function call starts when a run ends, first come first served; the bound never grows."""
    tool_endpoint.hold = trio.Event()
    call = await tool_driver.start("rtc_queue_order")
    count = TOOL_RUNS_PER_CALL + 3
    ids = [
        await tool_driver.function_call(call, "lookup_order", json.dumps({"order_number": f"A-{n}"}))
        for n in range(count)
    ]
    await tool_endpoint.wait_request()
    view = (await tool_driver.admin("GET", "/actors/rtc_queue_order")).json()
    assert len(view["tools_running"]) == TOOL_RUNS_PER_CALL
    tool_endpoint.hold.set()
    for tool_call_id in ids:
        assert (await tool_driver.tool_output(call, tool_call_id))["ok"] is True
    numbers = [json.loads(request.content)["order_number"] for request in tool_endpoint.requests]
    assert numbers == [f"A-{n}" for n in range(count)]
    await assert_call_goes_on(tool_driver, call)


# -- missing or odd fields ------------------------------------------------------------------

LONG_ID = "c" * (MAX_TOOL_CALL_ID_CHARS + 1)


@pytest.mark.parametrize(
    "call_id",
    [None, 7, ["call_1"], {"id": "call_1"}, "", LONG_ID, "call\n1", "call_\u00e9", "call_\ud800"],
    ids=["null", "number", "list", "object", "empty", "too_long", "newline", "not_ascii", "lone_surrogate"],
)
async def test_a_function_call_without_a_usable_call_id_is_dropped(
    driver: Driver, call_id: object, mock_clock: trio.testing.MockClock
) -> None:
    """No usable call_id (missing, not a string, empty, too long, not printable ASCII): dropped, counted, logged once."""
    call = await driver.start("rtc_bad_call_id")
    await function_call_item(call, name="end_call", arguments="{}", call_id=call_id)
    await function_call_item(call, name="end_call", arguments="{}")  # no call_id at all
    view = await assert_call_goes_on(driver, call)
    assert view["session"]["tool_calls_unanswerable"] == 2
    assert view["session"]["tool_calls"] == 1  # only the check's own
    [refused] = driver.logs.events("tool_call_refused", call_id="rtc_bad_call_id")
    assert refused["reason"] == "call_id_invalid"
    if isinstance(call_id, str):
        assert refused["tool_call_id"] == call_id[:140]
    elif isinstance(call_id, list | dict):  # a container is logged as its type's name
        assert refused["tool_call_id"] == f"<{type(call_id).__name__}>"
    else:
        assert refused["tool_call_id"] == call_id
    assert driver.platform.actions("rtc_bad_call_id") == ["accept"]  # end_call never ran


@pytest.mark.parametrize(
    "name",
    [None, 7, ["end_call"], {"name": "end_call"}, "", "x" * (MiB // 2), "end_call\u0000", "\ud800", "[" * 900 + "]" * 900],
    ids=["null", "number", "list", "object", "empty", "half_a_mib", "nul", "lone_surrogate", "nested_string"],
)
async def test_a_function_call_with_an_odd_name_is_told_tool_not_found(
    driver: Driver, name: object, mock_clock: trio.testing.MockClock
) -> None:
    """A name that is no configured tool's (not a string, empty, huge, odd characters): tool_not_found."""
    call = await driver.start("rtc_odd_name")
    await function_call_item(call, name=name, arguments="{}", call_id="call_odd_name")
    with trio.fail_after(WAIT_S):
        output = json.loads((await call.wait_tool_output("call_odd_name"))["item"]["output"])
    assert output["error"] == "tool_not_found"
    assert len(output["message"]) < 200
    view = await assert_call_goes_on(driver, call)
    assert view["session"]["tool_calls"] == 2
    assert driver.platform.actions("rtc_odd_name") == ["accept"]


async def test_a_function_call_without_a_name_field_is_told_tool_not_found(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """No name field at all: tool_not_found, 'a tool without a name'."""
    call = await driver.start("rtc_no_name")
    await function_call_item(call, arguments="{}", call_id="call_no_name")
    with trio.fail_after(WAIT_S):
        output = json.loads((await call.wait_tool_output("call_no_name"))["item"]["output"])
    assert output["error"] == "tool_not_found"
    assert "a tool without a name" in output["message"]
    await assert_call_goes_on(driver, call)


@pytest.mark.parametrize(
    "arguments",
    [None, 7, {"order_number": "A-1"}, ["A-1"], True, "", "[]", '"{}"', "{" * 10, "[" * 900 + "]" * 900],
    ids=["null", "number", "object", "array", "bool", "empty", "array_text", "string_text", "unbalanced", "nested_text"],
)
async def test_a_function_call_with_odd_arguments_is_told_tool_args_invalid(
    driver: Driver, arguments: object, mock_clock: trio.testing.MockClock
) -> None:
    """Arguments that are not a string holding a JSON object: tool_args_invalid, end_call does not run."""
    call = await driver.start("rtc_odd_args")
    await function_call_item(call, name="end_call", arguments=arguments, call_id="call_odd_args")
    with trio.fail_after(WAIT_S):
        output = json.loads((await call.wait_tool_output("call_odd_args"))["item"]["output"])
    assert output["error"] == "tool_args_invalid"
    failure = await driver.log("tool_execution_failed", "rtc_odd_args")
    assert len(json.dumps(failure)) < 2000
    await assert_call_goes_on(driver, call)
    assert driver.platform.actions("rtc_odd_args") == ["accept"]


async def test_a_function_call_without_arguments_is_told_tool_args_invalid(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """No arguments field at all: tool_args_invalid."""
    call = await driver.start("rtc_no_args")
    await function_call_item(call, name="end_call", call_id="call_no_args")
    with trio.fail_after(WAIT_S):
        output = json.loads((await call.wait_tool_output("call_no_args"))["item"]["output"])
    assert output["error"] == "tool_args_invalid"
    await assert_call_goes_on(driver, call)


async def test_a_duplicate_call_id_runs_once(driver: Driver, mock_clock: trio.testing.MockClock) -> None:
    """The same call_id twice (even with another name): one run, one output, the second counted and logged."""
    call = await driver.start("rtc_duplicate")
    await function_call_item(call, name="no_such_tool", arguments="{}", call_id="call_twice")
    await function_call_item(call, name="end_call", arguments="{}", call_id="call_twice")
    view = await assert_call_goes_on(driver, call)
    assert len(driver.tool_outputs(call, "call_twice")) == 1
    assert view["session"]["duplicate_tool_calls"] == 1
    assert [line["reason"] for line in driver.logs.events("tool_call_refused")] == ["duplicate_call_id"]
    assert driver.platform.actions("rtc_duplicate") == ["accept"]


@pytest.mark.parametrize(
    "item",
    [None, "function_call", ["function_call"], {"type": "function_call", "status": "in_progress", "name": "end_call", "call_id": "c1", "arguments": "{}"},
     {"type": ["function_call"], "status": "completed", "name": "end_call", "call_id": "c1", "arguments": "{}"},
     {"type": "function_call", "status": None, "name": "end_call", "call_id": "c1", "arguments": "{}"}],
    ids=["null", "string", "list", "in_progress", "type_is_a_list", "status_null"],
)
async def test_an_output_item_that_is_no_completed_function_call_runs_nothing(
    driver: Driver, item: object, mock_clock: trio.testing.MockClock
) -> None:
    """response.output_item.done whose item is not an object, or not a completed function_call: ignored."""
    call = await driver.start("rtc_odd_item")
    with trio.fail_after(WAIT_S):
        await call.send({"type": "response.output_item.done", "item": item})
    view = await assert_call_goes_on(driver, call)
    assert view["session"]["tool_calls"] == 1  # only the check's own
    assert driver.platform.actions("rtc_odd_item") == ["accept"]
