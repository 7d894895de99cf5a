"""How a hostile sideband ends a call: abrupt TCP closes, close frames with odd codes.

Each ends as ``call_ended`` with a named reason (``caller_hangup``, ``sideband_error``,
``sideband_protocol_error``), hung up through REST unless the code was 1000, its slot freed and
no actor crashed (:mod:`tests.lifecycle.hostile`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from supervisor.testing import FRAME_CLOSE
from tests.lifecycle.hostile import assert_call_ended
from tests.rig import WAIT_S

if TYPE_CHECKING:
    from tests.lifecycle.conftest import Driver, OpenDriver


async def test_an_abrupt_tcp_close_mid_frame_ends_as_caller_hangup(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """TCP dropped halfway through a 64 KiB frame: 1006, caller_hangup, hung up, nothing logged as abnormal."""
    call = await driver.start("rtc_mid_frame")
    with trio.fail_after(WAIT_S):
        await call.abort(mid_frame=True)
    ended = await assert_call_ended(driver, "rtc_mid_frame", "caller_hangup")
    assert ended["close_code"] == 1006
    assert driver.platform.actions("rtc_mid_frame") == ["accept", "hangup"]
    assert driver.logs.events("sideband_closed_abnormally") == []


async def test_an_abrupt_tcp_close_while_a_tool_runs_ends_the_call(
    tool_driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """TCP dropped while a tool run is in flight: caller_hangup, the run is cancelled, nothing leaks."""
    call = await tool_driver.start("rtc_abort_tool")
    await tool_driver.function_call(call, "lookup_order", '{"order_number": "A-1"}')
    with trio.fail_after(WAIT_S):
        await call.abort()
    await assert_call_ended(tool_driver, "rtc_abort_tool", "caller_hangup")


@pytest.mark.parametrize(
    ("code", "reason", "end_reason", "hung_up"),
    [
        (1000, "", "caller_hangup", False),
        (1001, "going away", "caller_hangup", True),
        (None, "", "caller_hangup", True),  # a close frame without a code: 1005 to the client
        (1011, "internal error", "sideband_error", True),
        (1008, "policy", "sideband_error", True),
        (4000, "custom", "sideband_error", True),
        (3999, "registered range", "sideband_error", True),
        (4999, "x" * 123, "sideband_error", True),  # the longest reason a close frame holds
        (1003, "unsupported data", "sideband_protocol_error", True),
    ],
    ids=["1000", "1001", "no_code_1005", "1011", "1008", "4000", "3999", "4999_long_reason", "1003"],
)
async def test_a_close_frame_ends_the_call_with_a_named_reason(
    driver: Driver,
    code: int | None,
    reason: str,
    end_reason: str,
    hung_up: bool,
    mock_clock: trio.testing.MockClock,
) -> None:
    """A close frame with a valid code: the reason its code names; REST hangup unless 1000."""
    call = await driver.start("rtc_close_code")
    with trio.fail_after(WAIT_S):
        await call.send_close_frame(code, reason)
    ended = await assert_call_ended(driver, "rtc_close_code", end_reason)
    assert ended["close_code"] == (1005 if code is None else code)
    assert driver.platform.actions("rtc_close_code") == (["accept", "hangup"] if hung_up else ["accept"])
    abnormal = driver.logs.events("sideband_closed_abnormally")
    if end_reason == "caller_hangup":
        assert abnormal == []
    else:
        [line] = abnormal
        assert (line["close_code"], line["close_reason"], line["end_reason"]) == (code, reason[:120], end_reason)


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1006, b""), (1005, b""), (1015, b""), (999, b""), (5000, b""), (2000, b""), (1004, b""), (0, b""),
     (4000, b"\xff\xfe not utf-8"), (None, b"\x03")],
    ids=["1006", "1005", "1015", "999", "5000", "2000_reserved", "1004", "0", "reason_not_utf8", "one_byte_payload"],
)
async def test_a_close_frame_no_server_may_send_ends_as_a_protocol_error(
    driver: Driver, code: int | None, reason: bytes, mock_clock: trio.testing.MockClock
) -> None:
    """Codes kept off the wire (1005, 1006, 1015...), out of range, or a broken payload: sideband_protocol_error."""
    call = await driver.start("rtc_bad_close")
    with trio.fail_after(WAIT_S):
        if code is None:  # a one-byte payload: no code can be read from it
            await call.send_frame(FRAME_CLOSE, reason)
            await call.abort()
        else:
            await call.send_close_frame(code, reason)
    ended = await assert_call_ended(driver, "rtc_bad_close", "sideband_protocol_error")
    assert ended["close_code"] in (1002, 1007)
    assert driver.platform.actions("rtc_bad_close") == ["accept", "hangup"]


async def test_a_close_during_a_transfer_still_ends_as_transferred(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """A refer in flight when the sideband closes with 1011: transferred wins over the close code."""
    call = await driver.start("rtc_close_transfer")
    driver.platform.delay("refer", 5.0, call_id="rtc_close_transfer")
    await driver.function_call(call, "transfer_call", "{}")
    await driver.request("refer", "rtc_close_transfer")
    with trio.fail_after(WAIT_S):
        await call.send_close_frame(1011, "gone")
    await assert_call_ended(driver, "rtc_close_transfer", "transferred")


async def test_hand_written_frames_over_wss_end_calls_as_over_ws(
    open_driver: OpenDriver, mock_clock: trio.testing.MockClock
) -> None:
    """Under TLS too: a raw 4000 close is sideband_error, a mid-frame drop caller_hangup, a bad opcode a protocol error."""
    async with open_driver(tls=True) as driver:
        closing = await driver.start("rtc_wss_close")
        dropping = await driver.start("rtc_wss_drop")
        refusing = await driver.start("rtc_wss_opcode")
        with trio.fail_after(WAIT_S):
            await closing.send_close_frame(4000, "custom")
            await dropping.abort(mid_frame=True)
            await refusing.send_frame(0x3, b"reserved")
        assert (await driver.ended("rtc_wss_close"))["reason"] == "sideband_error"
        assert (await driver.ended("rtc_wss_drop"))["reason"] == "caller_hangup"
        await assert_call_ended(driver, "rtc_wss_opcode", "sideband_protocol_error")
