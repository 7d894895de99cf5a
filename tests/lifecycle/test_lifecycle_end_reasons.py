"""How a call ends: every ``call_ended`` reason, as the log, the platform and the operator see it."""

from __future__ import annotations

import gc
import warnings
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
import trio
import trio.testing
import yaml

from supervisor.testing import EXAMPLE_TENANTS
from tests.rig import WAIT_S

if TYPE_CHECKING:
    from tests.lifecycle.conftest import Driver, OpenDriver

ACME_TRANSFER_TARGET = "tel:+14155550123"
#: acme-corp's tool defaults (config/examples/tenants.yaml sets neither).
GOODBYE_TIMEOUT_S = 10.0
TRANSFER_CLOSE_TIMEOUT_S = 15.0


def position(events: list[dict[str, Any]], event: dict[str, Any]) -> int:
    """Where ``event`` (this very object, not an equal one) is in ``events``."""
    return next(i for i, candidate in enumerate(events) if candidate is event)


# -- the caller hangs up ------------------------------------------------------------------


async def test_caller_hangup_with_close_frame_sends_no_hangup(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """A normal sideband close (1000) ends the call as caller_hangup without a hangup request."""
    call = await driver.start("rtc_hangup_1000")
    await trio.sleep(42)  # virtual: the caller talks for 42 s
    view = (await driver.admin("GET", "/actors/rtc_hangup_1000")).json()
    assert 42 <= view["age_s"] < 43
    ended = await driver.caller_hangup(call)
    assert ended["level"] == "INFO"
    assert ended["reason"] == "caller_hangup"
    assert ended["close_code"] == 1000
    assert ended["tenant_id"] == "acme-corp"
    assert 42 <= ended["duration_s"] < 43
    assert driver.platform.actions("rtc_hangup_1000") == ["accept"]
    await driver.assert_no_leaks()


async def test_caller_drop_without_close_frame_attempts_hangup(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """A dropped sideband (1006) ends the call as caller_hangup; the hangup sent meets a 404 quietly."""
    call = await driver.start("rtc_hangup_1006")
    with trio.fail_after(WAIT_S):
        await call.abort()
    ended = await driver.ended("rtc_hangup_1006")
    assert ended["reason"] == "caller_hangup"
    assert ended["close_code"] == 1006
    assert driver.platform.actions("rtc_hangup_1006") == ["accept", "hangup"]
    assert driver.logs.events("call_hangup_failed") == []
    await driver.assert_no_leaks()


async def test_remote_close_leaves_no_unclosed_sideband_socket(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """After the platform closes the sideband, callvisor closes its socket instead of leaving it to GC."""
    ws_port = urlsplit(driver.platform.realtime_url).port
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        call = await driver.start("rtc_socket_leak")
        await driver.caller_hangup(call)
        await driver.assert_no_leaks()
        gc.collect()
    leaked = [
        str(w.message) for w in caught
        if issubclass(w.category, ResourceWarning) and f"raddr=('127.0.0.1', {ws_port})" in str(w.message)
    ]
    assert leaked == []


# -- end_call -----------------------------------------------------------------------------


async def _silent_greeting(driver: Driver, call_id: str) -> Any:
    """A live call whose greeting got no audio answer (auto_audio off until it was received)."""
    driver.platform.auto_audio = False
    call = await driver.start(call_id)
    await driver.client_event(call_id, "response.create")
    return call


async def test_end_call_hangs_up_after_the_goodbye_has_played(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """end_call: the output and a response.create go out, and the hangup waits for output_audio_buffer.stopped."""
    call = await _silent_greeting(driver, "rtc_end_call")
    driver.platform.auto_audio = True
    driver.platform.audio_duration_s = 5.0
    asked_at = trio.current_time()
    tool_call_id = await driver.function_call(call, "end_call", '{"reason": "caller is done"}')

    output = await driver.tool_output(call, tool_call_id)
    assert output == {"ok": True, "status": "ending_call"}
    goodbye = await driver.client_event("rtc_end_call", "response.create", nth=2)
    output_event = next(e for e in call.client_events if e.get("item", {}).get("call_id") == tool_call_id)
    assert position(call.client_events, goodbye) > position(call.client_events, output_event)

    hangup = await driver.request("hangup", "rtc_end_call")
    # The goodbye's audio stopped 5 s after it began; the goodbye timeout (10 s) did not fire.
    assert asked_at + 5.0 <= hangup.at < asked_at + GOODBYE_TIMEOUT_S
    ended = await driver.ended("rtc_end_call")
    assert ended["reason"] == "end_call"
    assert ended["tool_calls"] == 1
    assert driver.platform.actions("rtc_end_call") == ["accept", "hangup"]
    await driver.assert_no_leaks()


async def test_end_call_without_audio_stop_hangs_up_after_goodbye_timeout(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """end_call with no output_audio_buffer.stopped ever: the hangup comes after goodbye_timeout_s."""
    call = await _silent_greeting(driver, "rtc_end_call_silent")
    asked_at = trio.current_time()
    await driver.function_call(call, "end_call", "{}")
    hangup = await driver.request("hangup", "rtc_end_call_silent")
    assert asked_at + GOODBYE_TIMEOUT_S <= hangup.at < asked_at + GOODBYE_TIMEOUT_S + 2.0
    ended = await driver.ended("rtc_end_call_silent")
    assert ended["reason"] == "end_call"
    await driver.assert_no_leaks()


async def test_end_call_waits_for_the_goodbye_not_an_earlier_response(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """An earlier response's audio that stops mid-goodbye does not cut the goodbye off."""
    call = await _silent_greeting(driver, "rtc_end_call_overlap")
    driver.platform.auto_audio = True
    driver.platform.audio_duration_s = 8.0  # the goodbye
    asked_at = trio.current_time()
    async with trio.open_nursery() as nursery:
        # Audio of an earlier response, still playing when the model calls end_call.
        nursery.start_soon(partial(call.play_audio, duration_s=3.0))
        await driver.function_call(call, "end_call", "{}")
        hangup = await driver.request("hangup", "rtc_end_call_overlap")
    assert hangup.at >= asked_at + 8.0


# -- transfer -----------------------------------------------------------------------------


async def test_transfer_refers_to_the_target_and_ends_transferred(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """transfer_call: refer to the tenant's target, the platform closes the session, call_ended transferred."""
    call = await driver.start("rtc_transfer")
    tool_call_id = await driver.function_call(call, "transfer_call", "{}")
    assert await driver.tool_output(call, tool_call_id) == {"ok": True, "status": "transferring"}
    refer = await driver.request("refer", "rtc_transfer")
    assert refer.body == {"target_uri": ACME_TRANSFER_TARGET}
    requested = await driver.log("call_transfer_requested", "rtc_transfer")
    assert requested["target_uri"] == ACME_TRANSFER_TARGET
    ended = await driver.ended("rtc_transfer")
    assert ended["reason"] == "transferred"
    assert ended["close_code"] == 1000
    # The platform closed the session normally: no hangup on top of the transfer.
    assert driver.platform.actions("rtc_transfer") == ["accept", "refer"]
    assert call.refer_target == ACME_TRANSFER_TARGET
    await driver.assert_no_leaks()


async def test_transfer_that_never_closes_ends_after_close_timeout_with_hangup(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """A refer answered 200 whose session never closes: ended transferred after close_timeout_s, then hung up."""
    driver.platform.refer_closes_after_s = None
    call = await driver.start("rtc_transfer_stuck")
    await driver.function_call(call, "transfer_call", "{}")
    refer = await driver.request("refer", "rtc_transfer_stuck")
    hangup = await driver.request("hangup", "rtc_transfer_stuck")
    assert refer.at + TRANSFER_CLOSE_TIMEOUT_S <= hangup.at < refer.at + TRANSFER_CLOSE_TIMEOUT_S + 2.0
    ended = await driver.ended("rtc_transfer_stuck")
    assert ended["reason"] == "transferred"
    assert driver.platform.actions("rtc_transfer_stuck") == ["accept", "refer", "hangup"]
    await driver.assert_no_leaks()


async def test_failed_transfer_tells_the_model_and_the_call_continues(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """A refer answered 500: call_transfer_failed, a system message and response.create, the call goes on."""
    driver.platform.fail("refer", call_id="rtc_transfer_500", status=500)
    call = await driver.start("rtc_transfer_500")
    await driver.function_call(call, "transfer_call", "{}")
    failed = await driver.log("call_transfer_failed", "rtc_transfer_500")
    assert failed["level"] == "ERROR"
    assert failed["error"]["reason"] == "openai_5xx"
    assert failed["error"]["context"]["status"] == 500

    # output (nth 1), then the system message (nth 2); response.create after each, greeting first.
    message = await driver.client_event("rtc_transfer_500", "conversation.item.create", nth=2)
    assert message["item"]["type"] == "message"
    assert message["item"]["role"] == "system"
    assert "transfer failed" in message["item"]["content"][0]["text"]
    after = await driver.client_event("rtc_transfer_500", "response.create", nth=3)
    assert position(call.client_events, after) > position(call.client_events, message)

    assert driver.logs.events("call_ended", call_id="rtc_transfer_500") == []
    view = await driver.admin("GET", "/actors/rtc_transfer_500")
    assert view.status_code == 200
    assert view.json()["state"] == "live"
    ended = await driver.caller_hangup(call)
    assert ended["reason"] == "caller_hangup"
    assert driver.platform.actions("rtc_transfer_500") == ["accept", "refer"]
    await driver.assert_no_leaks()


async def test_transfer_whose_session_closes_before_the_refer_answer_is_transferred(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """The session closing while the refer is still being answered counts as transferred."""
    driver.platform.refer_closes_after_s = None
    driver.platform.delay("refer", 1.0, call_id="rtc_transfer_race")
    call = await driver.start("rtc_transfer_race")
    await driver.function_call(call, "transfer_call", "{}")
    await driver.request("refer", "rtc_transfer_race")
    with trio.fail_after(WAIT_S):
        # The transfer went through before OpenAI answered the REST call.
        await call.close(1000, end_call=False)
    ended = await driver.ended("rtc_transfer_race")
    assert ended["reason"] == "transferred"


# -- the operator hangs up ----------------------------------------------------------------


async def test_operator_hangup_ends_the_call(driver: Driver, mock_clock: trio.testing.MockClock) -> None:
    """POST /actors/{id}/hangup answers 202, logs operator_hangup, and the call is hung up."""
    await driver.start("rtc_operator")
    response = await driver.admin("POST", "/actors/rtc_operator/hangup")
    assert response.status_code == 202
    assert response.json() == {"ok": True, "hangup": "rtc_operator", "already_ending": False}
    logged = await driver.log("operator_hangup", "rtc_operator")
    assert logged["tenant_id"] == "acme-corp"
    ended = await driver.ended("rtc_operator")
    assert ended["reason"] == "operator_hangup"
    assert driver.platform.actions("rtc_operator") == ["accept", "hangup"]
    await driver.assert_no_leaks()
    gone = await driver.admin("GET", "/actors/rtc_operator")
    assert gone.status_code == 404


async def test_operator_hangup_of_an_unknown_call_is_404(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """Hanging up a call that is not live here answers 404 call_not_found and sends nothing."""
    response = await driver.admin("POST", "/actors/rtc_nobody/hangup")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "call_not_found"}
    assert driver.platform.requests == []
    assert driver.logs.events("operator_hangup") == []


# -- max duration -------------------------------------------------------------------------


@pytest.fixture
def short_calls_env(tmp_path: Path) -> dict[str, str]:
    """The example tenants, with acme-corp's calls limited to 30 s."""
    document = yaml.safe_load(EXAMPLE_TENANTS.read_text(encoding="utf-8"))
    acme = next(t for t in document["tenants"] if t["id"] == "acme-corp")
    acme["config"]["limits"]["max_call_duration_s"] = 30
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return {"CALLVISOR_TENANTS_FILE": str(path)}


@pytest.fixture
async def short_driver(open_driver: OpenDriver, short_calls_env: dict[str, str]) -> AsyncIterator[Driver]:
    async with open_driver(short_calls_env) as driver:
        yield driver


async def test_max_duration_ends_the_call(short_driver: Driver, mock_clock: trio.testing.MockClock) -> None:
    """A call reaching the tenant's max_call_duration_s is hung up with reason max_duration."""
    await short_driver.start("rtc_too_long")
    view = (await short_driver.admin("GET", "/actors/rtc_too_long")).json()
    assert 0 < view["deadline_in_s"] <= 30
    accept = await short_driver.request("accept", "rtc_too_long")
    hangup = await short_driver.request("hangup", "rtc_too_long")
    assert accept.at + 30 <= hangup.at < accept.at + 32
    ended = await short_driver.ended("rtc_too_long")
    assert ended["reason"] == "max_duration"
    assert 30 <= ended["duration_s"] < 32
    await short_driver.assert_no_leaks()


# -- the session never starts -------------------------------------------------------------


async def test_sideband_404_fails_the_session_start_and_hangs_up(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """Every sideband handshake answered 404: call_session_start_failed sideband_404, then a hangup."""
    driver.platform.fail_connect(call_id="rtc_no_session", times=100)
    response = await driver.rig.call("rtc_no_session")
    assert response.json() == {"ok": True, "accepted": "rtc_no_session"}
    failed = await driver.log("call_session_start_failed", "rtc_no_session")
    assert failed["level"] == "ERROR"
    assert failed["reason"] == "sideband_404"
    ended = await driver.ended("rtc_no_session")
    assert ended["reason"] == "session_start_failed"
    assert driver.platform.actions("rtc_no_session") == ["accept", "hangup"]
    handshakes = [h.status for h in driver.platform.handshakes if h.call_id == "rtc_no_session"]
    assert handshakes == [404, 404, 404, 404]  # the first try and three retries
    assert driver.logs.events("call_session_started", call_id="rtc_no_session") == []
    await driver.assert_no_leaks()


@pytest.mark.parametrize("rig_env", [{"CALL_SESSION_START_TIMEOUT_S": "0.5"}], ids=["start_timeout_0.5s"])
async def test_session_start_timeout_hangs_up(driver: Driver, mock_clock: trio.testing.MockClock) -> None:
    """A sideband still retrying after CALL_SESSION_START_TIMEOUT_S: reason timeout, then a hangup."""
    driver.platform.fail_connect(call_id="rtc_slow_session", times=100)
    accepted_at = trio.current_time()
    await driver.rig.call("rtc_slow_session")
    failed = await driver.log("call_session_start_failed", "rtc_slow_session")
    assert failed["reason"] == "timeout"
    assert failed["timeout_s"] == 0.5
    hangup = await driver.request("hangup", "rtc_slow_session")
    assert accepted_at + 0.5 <= hangup.at < accepted_at + 2.0
    ended = await driver.ended("rtc_slow_session")
    assert ended["reason"] == "session_start_failed"
    await driver.assert_no_leaks()
