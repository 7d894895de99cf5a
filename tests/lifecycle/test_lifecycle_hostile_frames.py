"""Hostile sideband frames: what is not JSON, not text, too large, or breaks the websocket protocol.

Each input either leaves the call going on (a tool call is answered afterwards) or ends it
cleanly with a named ``call_ended`` reason; the slot comes free and no actor crashes
(:mod:`tests.lifecycle.hostile`).  Every test runs on ``mock_clock``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from actors.session import MAX_MESSAGE_BYTES
from supervisor.testing import FRAME_BINARY, FRAME_CONTINUATION, FRAME_PING, FRAME_TEXT
from tests.lifecycle.hostile import assert_call_ended, assert_call_goes_on
from tests.rig import WAIT_S

if TYPE_CHECKING:
    from tests.lifecycle.conftest import Driver

MiB = 2**20


@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "response.done", "response": {"id": "resp_1"',
        '{"type": "error"}}',
        "",
        "null",
        '"a string"',
        "[1, 2, 3]",
        "1" * 5000,  # an integer past Python's 4,300-digit limit
        '{"type": "response.created", "type": 7}',
        "\ufeff{}",
    ],
    ids=["truncated", "trailing_brace", "empty", "null", "string", "array", "huge_integer", "duplicate_key", "bom"],
)
async def test_invalid_json_is_counted_and_the_call_goes_on(
    driver: Driver, frame: str, mock_clock: trio.testing.MockClock
) -> None:
    """A text frame that is not a JSON object (or is one whose type is no string) is counted unreadable."""
    call = await driver.start("rtc_bad_json")
    await call.send_text(frame)
    view = await assert_call_goes_on(driver, call)
    assert view["session"]["unreadable_events"] == 1


@pytest.mark.parametrize(
    "frame",
    [b"", b"\x00\xff\xfe", json.dumps({"type": "response.output_item.done"}).encode()],
    ids=["empty", "not_utf8", "a_json_event"],
)
async def test_a_binary_frame_is_counted_unreadable_even_if_it_holds_json(
    driver: Driver, frame: bytes, mock_clock: trio.testing.MockClock
) -> None:
    """The Realtime API speaks text frames: a binary one is never read as an event."""
    call = await driver.start("rtc_binary")
    await call.send_text(frame)
    view = await assert_call_goes_on(driver, call)
    assert view["session"]["unreadable_events"] == 1


async def test_a_binary_function_call_runs_no_tool(driver: Driver, mock_clock: trio.testing.MockClock) -> None:
    """A function call sent in a binary frame is not run: no output for it, the call goes on."""
    call = await driver.start("rtc_binary_tool")
    item = {"type": "function_call", "status": "completed", "name": "end_call", "call_id": "call_bin", "arguments": "{}"}
    await call.send_text(json.dumps({"type": "response.output_item.done", "item": item}).encode())
    await assert_call_goes_on(driver, call)
    assert driver.tool_outputs(call, "call_bin") == []


async def test_a_5_mib_text_frame_is_read_and_the_call_goes_on(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """5 MiB is under the sideband's message limit: the event is read (and ignored), the call goes on."""
    assert 5 * MiB < MAX_MESSAGE_BYTES
    call = await driver.start("rtc_5mib")
    with trio.fail_after(WAIT_S):
        assert await call.send_sized(5 * MiB)
    view = await assert_call_goes_on(driver, call)
    assert view["session"].get("unreadable_events", 0) == 0
    assert view["session"]["events_received"] >= 2


async def test_a_frame_at_the_message_limit_is_read(driver: Driver, mock_clock: trio.testing.MockClock) -> None:
    """A frame of exactly MAX_MESSAGE_BYTES is still an event."""
    call = await driver.start("rtc_at_limit")
    with trio.fail_after(WAIT_S):
        assert await call.send_sized(MAX_MESSAGE_BYTES)
    await assert_call_goes_on(driver, call)


async def test_a_frame_over_the_message_limit_ends_the_call_cleanly(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """One byte over MAX_MESSAGE_BYTES: closed 1009, call_ended sideband_message_too_large, hung up."""
    call = await driver.start("rtc_over_limit")
    with trio.fail_after(WAIT_S):
        await call.send_sized(MAX_MESSAGE_BYTES + 1)
    ended = await assert_call_ended(driver, "rtc_over_limit", "sideband_message_too_large")
    assert ended["close_code"] == 1009
    closed = driver.logs.events("sideband_closed_abnormally", call_id="rtc_over_limit")
    assert [(line["level"], line["close_code"]) for line in closed] == [("WARNING", 1009)]
    assert driver.platform.actions("rtc_over_limit") == ["accept", "hangup"]


async def test_a_message_split_over_many_frames_counts_against_the_limit(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """Continuation frames add up: a message past the limit in 1 MiB pieces ends the call as too large."""
    driver.platform.auto_audio = False  # no event of the platform's own between the pieces
    call = await driver.start("rtc_fragments")
    piece = b"x" * MiB
    with trio.fail_after(WAIT_S):
        await call.send_frame(FRAME_TEXT, b'{"type": "x", "pad": "' + piece, fin=False)
        try:
            for _ in range(MAX_MESSAGE_BYTES // MiB):
                await call.send_frame(FRAME_CONTINUATION, piece, fin=False)
        except trio.BrokenResourceError:
            pass  # callvisor hung up and closed the socket under the frames
    ended = await assert_call_ended(driver, "rtc_fragments", "sideband_message_too_large")
    assert ended["close_code"] == 1009


@pytest.mark.parametrize(
    ("opcode", "payload", "fin", "rsv", "close_code"),
    [
        (0x3, b"reserved data opcode", True, 0, 1002),
        (0xB, b"reserved control opcode", True, 0, 1002),
        (FRAME_TEXT, b'{"type": "x"}', True, 0b100, 1002),
        (FRAME_TEXT, b"\xff\xfe not utf-8", True, 0, 1007),
        (FRAME_CONTINUATION, b"a continuation of nothing", True, 0, 1002),
        (FRAME_PING, b"p" * 126, True, 0, 1002),
        (FRAME_PING, b"fragmented ping", False, 0, 1002),
        (FRAME_BINARY, b"half", False, 0, 1002),
    ],
    ids=["reserved_opcode", "reserved_control_opcode", "rsv_bit", "text_not_utf8", "stray_continuation", "ping_too_long", "fragmented_ping", "binary_then_text"],
)
async def test_a_frame_that_breaks_the_protocol_ends_the_call_cleanly(
    driver: Driver,
    opcode: int,
    payload: bytes,
    fin: bool,
    rsv: int,
    close_code: int,
    mock_clock: trio.testing.MockClock,
) -> None:
    """A frame RFC 6455 forbids: callvisor refuses it (1002/1007), ends sideband_protocol_error, hangs up."""
    call = await driver.start("rtc_bad_frame")
    with trio.fail_after(WAIT_S):
        await call.send_frame(opcode, payload, fin=fin, rsv=rsv)
        if not fin:
            await call.send_text('{"type": "a text frame in the middle of an unfinished message"}')
    ended = await assert_call_ended(driver, "rtc_bad_frame", "sideband_protocol_error")
    assert ended["close_code"] == close_code
    assert [line["end_reason"] for line in driver.logs.events("sideband_closed_abnormally")] == ["sideband_protocol_error"]
    assert driver.platform.actions("rtc_bad_frame") == ["accept", "hangup"]


async def test_a_ping_is_answered_and_the_call_goes_on(driver: Driver, mock_clock: trio.testing.MockClock) -> None:
    """A hand-written ping (the largest allowed, 125 bytes) is no event: the call goes on."""
    call = await driver.start("rtc_ping")
    with trio.fail_after(WAIT_S):
        await call.send_frame(FRAME_PING, b"p" * 125)
    view = await assert_call_goes_on(driver, call)
    assert view["session"].get("unreadable_events", 0) == 0
