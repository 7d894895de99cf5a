"""Tool calls from the model: what runs, what the model is told, what the operator sees."""

from __future__ import annotations

import gc
import json
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
import trio
import trio.testing

if TYPE_CHECKING:
    from supervisor.testing import SimulatedCall
    from tests.lifecycle.conftest import Driver, ToolEndpoint

ORDERS_URL = "https://tools.acme.example/orders"
#: acme-corp's lookup_order tool: timeout_s 4, max_response_bytes left at its default.
TOOL_TIMEOUT_S = 4.0
MAX_RESPONSE_BYTES = 65536
#: trio's warning for the body iterator actors/tools.py abandons on an oversized answer.


async def _model_is_told(
    driver: Driver, call: SimulatedCall, name: str, arguments: str, *, error: str
) -> dict[str, Any]:
    """Have the model call ``name``; check the error output and the response.create after it.

    Returns the ``tool_execution_failed`` line.
    """
    tool_call_id = await driver.function_call(call, name, arguments)
    output = await driver.tool_output(call, tool_call_id)
    assert output["ok"] is False
    assert output["error"] == error
    assert isinstance(output["message"], str)
    assert output["message"]
    # The greeting was response.create #1; the one asking the model to speak the result is #2.
    await driver.client_event(call.call_id, "response.create", nth=2)
    failure = await driver.log("tool_execution_failed", call.call_id)
    assert failure["level"] == "ERROR"
    assert failure["tenant_id"] == "acme-corp"
    assert failure["error"]["reason"] == error
    assert failure["error"]["tenant_id"] == "acme-corp"
    return failure


async def _still_live(driver: Driver, call: SimulatedCall) -> dict[str, Any]:
    """The call goes on: still registered and live, and the sideband still attached."""
    assert call.live_connections == 1
    response = await driver.admin("GET", f"/actors/{call.call_id}")
    assert response.status_code == 200
    view: dict[str, Any] = response.json()
    assert view["state"] == "live"
    assert driver.logs.events("call_ended", call_id=call.call_id) == []
    return view


async def _end(driver: Driver, call: SimulatedCall) -> dict[str, Any]:
    ended = await driver.caller_hangup(call)
    assert ended["reason"] == "caller_hangup"
    await driver.assert_no_leaks()
    return ended


# -- the model gets it wrong --------------------------------------------------------------


async def test_unknown_tool_is_reported_and_the_call_continues(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """An unknown tool name: tool_execution_failed ToolNotFoundError/tool_not_found, the model is told."""
    call = await driver.start("rtc_tool_unknown")
    failure = await _model_is_told(driver, call, "launch_rockets", "{}", error="tool_not_found")
    assert failure["error"]["error_type"] == "ToolNotFoundError"
    assert failure["error"]["context"]["tool_name"] == "launch_rockets"
    assert failure["error"]["context"]["available"] == ["end_call", "transfer_call", "lookup_order"]
    await _still_live(driver, call)
    await _end(driver, call)


async def test_unknown_tool_names_do_not_become_metric_labels(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """Tool names the tenant never configured are not copied into callvisor_tool_runs_total labels."""
    call = await driver.start("rtc_tool_names")
    for name in ("launch_rockets", "open_the_pod_bay_doors", "x" * 64):
        tool_call_id = await driver.function_call(call, name, "{}")
        assert (await driver.tool_output(call, tool_call_id))["error"] == "tool_not_found"
    samples = await driver.metrics()
    tools = {dict(labels)["tool"] for labels in samples.named("callvisor_tool_runs_total")}
    assert tools <= {"end_call", "transfer_call", "lookup_order", "unknown"}
    assert sum(samples.named("callvisor_tool_runs_total").values()) == 3
    await _end(driver, call)


async def test_arguments_that_are_not_a_json_object_are_reported(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """Arguments that do not parse: ToolArgsParseError/tool_args_invalid, the tool never runs."""
    call = await driver.start("rtc_tool_args")
    failure = await _model_is_told(driver, call, "lookup_order", "{not json", error="tool_args_invalid")
    assert failure["error"]["error_type"] == "ToolArgsParseError"
    assert failure["error"]["context"]["arguments_excerpt"] == "{not json"
    await _still_live(driver, call)
    await _end(driver, call)


# -- http tools ---------------------------------------------------------------------------


def _answer_503(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(503, json={"error": "unavailable"})


def _answer_too_large(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(200, content=b"x" * (MAX_RESPONSE_BYTES + 1))


def _refuse_connection(request: httpx2.Request) -> httpx2.Response:
    raise httpx2.ConnectError("connection refused", request=request)


@pytest.mark.parametrize(
    ("reply", "delay_s", "error"),
    [
        (_answer_503, 0.0, "tool_http_error"),
        (None, 30.0, "tool_timeout"),
        pytest.param(
            _answer_too_large, 0.0, "tool_response_too_large",
        ),
        (_refuse_connection, 0.0, "tool_unreachable"),
    ],
    ids=["http_503", "slow", "too_large", "unreachable"],
)
async def test_failing_http_tool_is_reported_and_the_call_continues(
    tool_driver: Driver,
    tool_endpoint: ToolEndpoint,
    reply: Callable[[httpx2.Request], httpx2.Response] | None,
    delay_s: float,
    error: str,
    mock_clock: trio.testing.MockClock,
) -> None:
    """An http tool that fails, stalls or floods: the model is told why, the metric counts it, the call goes on."""
    if reply is not None:
        tool_endpoint.reply = reply
    tool_endpoint.delay_s = delay_s
    call = await tool_driver.start(f"rtc_http_{error}")
    started_at = trio.current_time()
    failure = await _model_is_told(tool_driver, call, "lookup_order", '{"order_number": "A1"}', error=error)
    assert failure["error"]["error_type"] == "ToolExecutionError"
    assert failure["error"]["context"]["tool_name"] == "lookup_order"
    if error == "tool_timeout":
        assert TOOL_TIMEOUT_S <= trio.current_time() - started_at < TOOL_TIMEOUT_S + 2
    if error == "tool_http_error":
        assert failure["error"]["context"]["status"] == 503
    assert len(tool_endpoint.requests) == 1
    await _still_live(tool_driver, call)
    samples = await tool_driver.metrics()
    assert samples.value("callvisor_tool_runs_total", tool="lookup_order", outcome=error) == 1
    await _end(tool_driver, call)


async def test_oversized_tool_answer_closes_its_body_iterator(
    tool_driver: Driver, tool_endpoint: ToolEndpoint, mock_clock: trio.testing.MockClock
) -> None:
    """Stopping at max_response_bytes closes the body iterator instead of leaving it to the GC."""
    tool_endpoint.reply = _answer_too_large
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        call = await tool_driver.start("rtc_http_flood")
        tool_call_id = await tool_driver.function_call(call, "lookup_order", '{"order_number": "A1"}')
        await tool_driver.tool_output(call, tool_call_id)
        gc.collect()
    abandoned = [str(w.message) for w in caught if "aiter_bytes" in str(w.message)]
    assert abandoned == []
    await _end(tool_driver, call)


async def test_http_tool_result_is_given_to_the_model(
    tool_driver: Driver, tool_endpoint: ToolEndpoint, mock_clock: trio.testing.MockClock
) -> None:
    """A working http tool: the arguments are POSTed as JSON and the model gets {"ok": true, "result": ...}."""
    call = await tool_driver.start("rtc_http_ok")
    tool_call_id = await tool_driver.function_call(call, "lookup_order", '{"order_number": "A1"}')
    output = await tool_driver.tool_output(call, tool_call_id)
    assert output == {"ok": True, "result": {"order_number": "A1", "status": "shipped"}}
    request = tool_endpoint.requests[0]
    assert request.method == "POST"
    assert str(request.url) == ORDERS_URL
    assert json.loads(request.content) == {"order_number": "A1"}
    await tool_driver.client_event("rtc_http_ok", "response.create", nth=2)
    assert tool_driver.logs.events("tool_execution_failed") == []
    samples = await tool_driver.metrics()
    assert samples.value("callvisor_tool_runs_total", tool="lookup_order", outcome="ok") == 1
    ended = await _end(tool_driver, call)
    assert ended["tool_calls"] == 1


async def test_http_tool_text_answer_is_given_as_text(
    tool_driver: Driver, tool_endpoint: ToolEndpoint, mock_clock: trio.testing.MockClock
) -> None:
    """An endpoint answering plain text: the model gets the text as the result."""
    tool_endpoint.reply = lambda request: httpx2.Response(200, text="shipped yesterday")
    call = await tool_driver.start("rtc_http_text")
    tool_call_id = await tool_driver.function_call(call, "lookup_order", '{"order_number": "A1"}')
    assert await tool_driver.tool_output(call, tool_call_id) == {"ok": True, "result": "shipped yesterday"}
    await _end(tool_driver, call)


# -- which function calls run -------------------------------------------------------------


@pytest.mark.parametrize("status", ["incomplete", "cancelled"])
async def test_function_call_that_did_not_complete_is_not_run(
    driver: Driver, status: str, mock_clock: trio.testing.MockClock
) -> None:
    """A function_call item whose status is not completed is never run: no output, no hangup."""
    call = await driver.start(f"rtc_tool_{status}")
    tool_call_id = await driver.function_call(call, "end_call", "{}", status=status)
    ended = await _end(driver, call)
    assert ended["tool_calls"] == 0
    assert driver.tool_outputs(call, tool_call_id) == []
    assert driver.platform.actions(call.call_id) == ["accept"]


async def test_tool_call_delivered_twice_runs_once(
    tool_driver: Driver, tool_endpoint: ToolEndpoint, mock_clock: trio.testing.MockClock
) -> None:
    """The same function call_id delivered twice runs the tool once and answers once."""
    call = await tool_driver.start("rtc_tool_twice")
    tool_call_id = await tool_driver.function_call(call, "lookup_order", '{"order_number": "A1"}')
    await tool_driver.tool_output(call, tool_call_id)
    again = await tool_driver.function_call(
        call, "lookup_order", '{"order_number": "A1"}', tool_call_id=tool_call_id
    )
    assert again == tool_call_id
    ended = await _end(tool_driver, call)
    assert ended["tool_calls"] == 1
    assert len(tool_endpoint.requests) == 1
    assert len(tool_driver.tool_outputs(call, tool_call_id)) == 1


# -- server events ------------------------------------------------------------------------


async def test_realtime_error_event_is_logged_and_the_call_continues(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """A sideband `error` event logs realtime_error (WARNING) with its code; the call goes on."""
    call = await driver.start("rtc_rt_error")
    with trio.fail_after(30):
        await call.send_error(code="invalid_value", message="Invalid value for 'voice'.", param="voice")
    logged = await driver.log("realtime_error", "rtc_rt_error")
    assert logged["level"] == "WARNING"
    assert logged["code"] == "invalid_value"
    assert logged["error_message"] == "Invalid value for 'voice'."
    # Still served: a later tool call is answered.
    await _model_is_told(driver, call, "launch_rockets", "{}", error="tool_not_found")
    view = await _still_live(driver, call)
    assert view["session"]["error_events"] == 1
    await _end(driver, call)


async def test_unknown_server_events_are_ignored(driver: Driver, mock_clock: trio.testing.MockClock) -> None:
    """Server event types callvisor does not know (and type-less events) are ignored; the call goes on."""
    call = await driver.start("rtc_rt_unknown")
    with trio.fail_after(30):
        await call.send({"type": "conversation.item.brand_new_thing", "event_id": "event_x", "payload": {"a": 1}})
        await call.send({"no_type": True})
    await _model_is_told(driver, call, "launch_rockets", "{}", error="tool_not_found")
    view = await _still_live(driver, call)
    assert view["session"].get("unreadable_events", 0) == 0
    assert view["session"].get("error_events", 0) == 0
    assert driver.logs.events("realtime_error") == []
    assert driver.logs.events("call_actor_crashed") == []
    await _end(driver, call)
