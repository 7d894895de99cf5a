"""Hostile sideband events: unknown types, and ``error`` events of every shape.

The call goes on after each (a tool call is answered afterwards), no actor crashes, the slot
comes free (:mod:`tests.lifecycle.hostile`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from actors.sideband import MAX_LOGGED_ERRORS
from tests.lifecycle.hostile import assert_call_goes_on
from tests.rig import WAIT_S

if TYPE_CHECKING:
    from tests.lifecycle.conftest import Driver


@pytest.mark.parametrize(
    "event",
    [
        {"type": "no.such.event"},
        {"type": ""},
        {"type": "x" * 100_000},
        {"type": "\ud800"},
        {"type": "response.output_item.done"},  # no item
        {"type": "response.created", "response": "resp_1"},
        {"type": "response.done", "response": {"id": ["resp_1"]}},
        {"type": "output_audio_buffer.stopped", "response_id": 7},
        {"type": "output_audio_buffer.started", "response_id": "r" * 100_000},
        {"type": "session.created", "session": None},
        {"type": "conversation.item.created", "item": {"type": "function_call", "status": "completed"}},
    ],
    ids=["unknown", "empty", "huge", "lone_surrogate", "no_item", "response_not_an_object", "response_id_a_list",
         "response_id_a_number", "response_id_huge", "session_null", "function_call_elsewhere"],
)
async def test_an_unknown_or_ill_formed_event_is_ignored_and_the_call_goes_on(
    driver: Driver, event: dict[str, Any], mock_clock: trio.testing.MockClock
) -> None:
    """Event types nobody knows, and known ones with fields of the wrong type: ignored."""
    call = await driver.start("rtc_unknown_event")
    with trio.fail_after(WAIT_S):
        await call.send(event)
    view = await assert_call_goes_on(driver, call)
    assert view["session"].get("unreadable_events", 0) == 0
    assert view["session"]["tool_calls"] == 1  # only the check's own


async def test_a_flood_of_unknown_events_is_ignored(driver: Driver, mock_clock: trio.testing.MockClock) -> None:
    """2,000 events of unknown types: counted as received, nothing logged, the call goes on."""
    call = await driver.start("rtc_event_flood")
    before = len(driver.logs.lines)
    with trio.fail_after(WAIT_S):
        for n in range(2000):
            await call.send({"type": f"unknown.{n}", "payload": n})
    view = await assert_call_goes_on(driver, call)
    assert view["session"]["events_received"] >= 2000
    flood = driver.logs.lines[before:]
    assert {line["event"] for line in flood} <= {"tool_execution_failed", "call_ended"}


ERROR_SHAPES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "realtime_shape",
        {"type": "error", "event_id": "event_1", "error": {"type": "invalid_request_error", "code": "invalid_value",
                                                           "message": "Invalid value", "param": "session.voice", "event_id": "c_1"}},
        {"code": "invalid_value", "error_type": "invalid_request_error", "error_message": "Invalid value",
         "param": "session.voice", "client_event_id": "c_1"},
    ),
    ("no_error_field", {"type": "error"}, {"code": None, "error_type": None, "error_message": None, "param": None, "client_event_id": None}),
    ("error_null", {"type": "error", "error": None}, {"code": None, "error_message": None}),
    ("error_a_string", {"type": "error", "error": "boom"}, {"code": None, "error_message": None}),
    ("error_a_list", {"type": "error", "error": [{"code": "x"}]}, {"code": None, "error_message": None}),
    ("empty_error", {"type": "error", "error": {}}, {"code": None, "error_message": None}),
    ("code_a_number", {"type": "error", "error": {"code": 429, "message": 1.5}}, {"code": 429, "error_message": 1.5}),
    ("code_a_bool", {"type": "error", "error": {"code": True, "message": False}}, {"code": True, "error_message": False}),
    ("code_a_list", {"type": "error", "error": {"code": ["a"], "message": {"text": "b"}}}, {"code": "<list>", "error_message": "<dict>"}),
    ("huge_message", {"type": "error", "error": {"code": "c" * 10_000, "message": "m" * 1_000_000}}, {"code": "c" * 80, "error_message": "m" * 300}),
    ("big_integer", {"type": "error", "error": {"code": 10**40}}, {"code": "<int>"}),
]


@pytest.mark.parametrize(("event", "logged"), [(shape, logged) for _, shape, logged in ERROR_SHAPES], ids=[name for name, _, _ in ERROR_SHAPES])
async def test_an_error_event_of_any_shape_is_logged_and_the_call_goes_on(
    driver: Driver, event: dict[str, Any], logged: dict[str, Any], mock_clock: trio.testing.MockClock
) -> None:
    """An error event, its fields missing or of any type: one realtime_error line of excerpts; the call goes on."""
    call = await driver.start("rtc_error_shape")
    with trio.fail_after(WAIT_S):
        await call.send(event)
    line = await driver.log("realtime_error", "rtc_error_shape")
    assert line["level"] == "WARNING"
    assert {name: line[name] for name in logged} == logged
    assert len(json.dumps(line)) < 1500
    view = await assert_call_goes_on(driver, call)
    assert view["session"]["error_events"] == 1


async def test_error_events_with_nan_and_infinity_log_valid_json(driver: Driver, mock_clock: trio.testing.MockClock) -> None:
    """NaN and Infinity (which Python's JSON reads) are logged as type names, so the log line stays JSON."""
    call = await driver.start("rtc_error_nan")
    with trio.fail_after(WAIT_S):
        await call.send_text('{"type": "error", "error": {"code": NaN, "message": -Infinity}}')
    line = await driver.log("realtime_error", "rtc_error_nan")
    assert (line["code"], line["error_message"]) == ("<float>", "<float>")
    await assert_call_goes_on(driver, call)


async def test_a_flood_of_error_events_logs_a_bounded_number_of_lines(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """500 error events: every one counted, only MAX_LOGGED_ERRORS logged, the last of them says so."""
    call = await driver.start("rtc_error_flood")
    with trio.fail_after(WAIT_S):
        for n in range(500):
            await call.send_error(code=f"code_{n}", message="again")
    view = await assert_call_goes_on(driver, call)
    assert view["session"]["error_events"] == 500
    lines = driver.logs.events("realtime_error", call_id="rtc_error_flood")
    assert len(lines) == MAX_LOGGED_ERRORS
    assert [line["last_logged"] for line in lines] == [False] * (MAX_LOGGED_ERRORS - 1) + [True]


async def test_end_call_still_waits_for_its_goodbye_after_a_flood_of_responses(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """1,000 responses created (and audio that never stops) before end_call: its own goodbye still ends the call."""
    call = await driver.start("rtc_response_flood")
    with trio.fail_after(WAIT_S):
        for n in range(1000):
            await call.send({"type": "response.created", "response": {"id": f"resp_flood_{n}"}})
            await call.send({"type": "output_audio_buffer.started", "response_id": f"resp_flood_{n}"})
    tool_call_id = await driver.function_call(call, "end_call", "{}")
    assert (await driver.tool_output(call, tool_call_id))["ok"] is True
    ended = await driver.ended("rtc_response_flood")
    assert ended["reason"] == "end_call"
    assert ended["duration_s"] < 5  # the goodbye (auto_audio), not end_call's 10 s timeout
    assert driver.logs.events("call_actor_crashed") == []
    await driver.assert_no_leaks()
