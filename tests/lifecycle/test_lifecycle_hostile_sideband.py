"""What the sideband sends is untrusted input: frames that must never crash a call actor.

Each test is named after the input that once ended a call as ``call_actor_crashed`` (issue 11's
findings); the call must go on (or end with its own reason), and the model must get its outputs.
"""

from __future__ import annotations

import json
from functools import partial
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from actors.sideband import MAX_EVENT_DEPTH
from actors.tools import MAX_ARGUMENT_DEPTH

if TYPE_CHECKING:
    from tests.lifecycle.conftest import Driver, OpenDriver

DEEP = 5000


@pytest.mark.parametrize(
    "frame",
    [
        "[" * DEEP + "]" * DEEP,
        '{"type": ' + "[" * DEEP + "]" * DEEP + "}",
        '{"type": ["response.done"]}',
        '{"type": {"a": 1}, "response": {}}',
        '{"type": 7}',
        "not json at all",
        b"\x00\xff binary",
        '{"type": "conversation.item.added", "item": ' + "[" * MAX_EVENT_DEPTH + "]" * MAX_EVENT_DEPTH + "}",
    ],
    ids=[
        "nested_array", "nested_type", "type_is_a_list", "type_is_an_object", "type_is_a_number",
        "not_json", "binary", "one_level_past_the_event_depth",
    ],
)
async def test_an_unreadable_frame_is_counted_and_the_call_goes_on(
    driver: Driver, frame: str | bytes, mock_clock: trio.testing.MockClock
) -> None:
    """A frame nested 5,000 deep, an event whose type is a list, an object or a number: ignored, counted."""
    call = await driver.start("rtc_hostile")
    await call.send_text(frame)
    tool_call_id = await driver.function_call(call, "no_such_tool", "{}")
    assert (await driver.tool_output(call, tool_call_id))["error"] == "tool_not_found"  # still serving
    view = (await driver.admin("GET", "/actors/rtc_hostile")).json()
    assert view["session"]["unreadable_events"] == 1
    ended = await driver.caller_hangup(call)
    assert ended["reason"] == "caller_hangup"
    assert driver.logs.events("call_actor_crashed") == []
    await driver.assert_no_leaks()


async def test_function_call_arguments_nested_deep_are_refused_while_other_tools_finish(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """Arguments nested past the limit: tool_args_invalid to the model; a tool in flight beside it still answers."""
    call = await driver.start("rtc_deep_args")
    deep = '{"order_number": ' + "[" * DEEP + "]" * DEEP + "}"
    just_too_deep = '{"a": ' + "[" * MAX_ARGUMENT_DEPTH + "]" * MAX_ARGUMENT_DEPTH + "}"
    first = await driver.function_call(call, "lookup_order", deep)
    second = await driver.function_call(call, "lookup_order", just_too_deep)
    third = await driver.function_call(call, "no_such_tool", "{}")
    for tool_call_id in (first, second):
        output = await driver.tool_output(call, tool_call_id)
        assert output["error"] == "tool_args_invalid"
        assert f"nest deeper than {MAX_ARGUMENT_DEPTH} levels" in output["message"] or "not a JSON object" in output["message"]
    assert (await driver.tool_output(call, third))["error"] == "tool_not_found"
    failures = driver.logs.events("tool_execution_failed", call_id="rtc_deep_args")
    assert sorted(line["error"]["reason"] for line in failures) == ["tool_args_invalid", "tool_args_invalid", "tool_not_found"]
    await driver.caller_hangup(call)
    assert driver.logs.events("call_actor_crashed") == []
    await driver.assert_no_leaks()


async def wrong_accept(stream: trio.SocketStream) -> None:
    """Answer the upgrade with 101 and a Sec-WebSocket-Accept that does not match the key."""
    async with stream:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = await stream.receive_some()
            if not chunk:
                return
            request += chunk
        await stream.send_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: bm90IHRoZSByaWdodCBhY2NlcHQ=\r\n\r\n"
        )
        await trio.sleep(30)


async def test_a_wrong_sec_websocket_accept_fails_the_session_start(
    open_driver: OpenDriver, mock_clock: trio.testing.MockClock
) -> None:
    """101 with a wrong Sec-WebSocket-Accept: call_session_start_failed handshake_failed, hung up, no crash."""
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, wrong_accept, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        async with open_driver({"OPENAI_REALTIME_URL": f"ws://127.0.0.1:{port}/v1/realtime"}) as driver:
            response = await driver.rig.call("rtc_wrong_accept")
            assert response.json() == {"ok": True, "accepted": "rtc_wrong_accept"}
            failed = await driver.log("call_session_start_failed", "rtc_wrong_accept")
            assert failed["reason"] == "handshake_failed"
            assert failed["detail"].startswith("LocalProtocolError")
            assert (await driver.ended("rtc_wrong_accept"))["reason"] == "session_start_failed"
            assert driver.platform.actions("rtc_wrong_accept") == ["accept", "hangup"]
            assert driver.logs.events("call_actor_crashed") == []
            await driver.assert_no_leaks()
        nursery.cancel_scope.cancel()


async def test_a_refused_sideband_port_fails_the_session_start(
    open_driver: OpenDriver, mock_clock: trio.testing.MockClock
) -> None:
    """Nothing listens at OPENAI_REALTIME_URL: call_session_start_failed handshake_failed, hung up, no crash."""
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        async with open_driver({"OPENAI_REALTIME_URL": f"ws://127.0.0.1:{port}/v1/realtime"}) as driver:
            await driver.rig.call("rtc_refused_port")
            failed = await driver.log("call_session_start_failed", "rtc_refused_port")
            assert failed["reason"] == "handshake_failed"
            assert failed["detail"].startswith("OSError: all attempts to connect to 127.0.0.1")
            assert (await driver.ended("rtc_refused_port"))["reason"] == "session_start_failed"
            assert driver.platform.actions("rtc_refused_port") == ["accept", "hangup"]
            assert driver.logs.events("call_actor_crashed") == []
            await driver.assert_no_leaks()


def test_the_depth_limit_counts_objects_and_arrays() -> None:
    """Nesting at the limit passes, one level more is refused (the count is of objects and arrays)."""
    from actors.errors import ToolArgsParseError
    from actors.tools import parse_arguments
    from config.models import EndCallTool

    tool = EndCallTool()
    at_limit = json.loads("[" * (MAX_ARGUMENT_DEPTH - 1) + "]" * (MAX_ARGUMENT_DEPTH - 1))
    assert parse_arguments(tool, json.dumps({"a": at_limit})) == {"a": at_limit}
    with pytest.raises(ToolArgsParseError, match="nest deeper"):
        parse_arguments(tool, json.dumps({"a": [at_limit]}))
