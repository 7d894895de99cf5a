"""What only a GPT-Live call does: its attach, its end event, a lost sideband, its audio.

The scenarios both runtimes share are tests/lifecycle/test_lifecycle_runtimes.py; these are the
Live sideband's own rules (actors/live_session.py): the session is up at the first event that
is not an ``error`` (or after a quiet second), ``session.closed`` ends the call with its reason
and without a hangup, a socket lost without it is attached once more, parallel function calls
get one ``response.create``, and reflected audio is counted, not parsed.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from actors.live_session import QUIET_START_S
from supervisor.testing import SimulatedLiveSession
from tests.lifecycle.conftest import Driver
from tests.rig import WAIT_S, open_rig
from tests.wire import check_client_events

NUMBER = "+18005550320"
INSTRUCTED = "+18005550321"
TENANTS = textwrap.dedent(
    f"""
    tenants:
      - id: live-only
        phone_numbers: ["{NUMBER}"]
        state: {{greeting_id: g, instruction_id: i}}
        config:
          schema_version: 1
          runtime: live
          tools: [{{kind: end_call}}, {{kind: transfer_call, target_uri: "tel:+14155550320"}}]
        prompts: {{greetings: {{g: "Live only, hello."}}, instructions: {{i: "Help the caller."}}}}
      - id: live-instructed
        phone_numbers: ["{INSTRUCTED}"]
        state: {{greeting_id: g, instruction_id: i}}
        config: {{schema_version: 1, runtime: live, live: {{greeting_event: instructions}}}}
        prompts: {{greetings: {{g: "Instructed, hello."}}, instructions: {{i: "Help the caller."}}}}
    """
)


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Driver]:
    path = tmp_path / "tenants.yaml"
    path.write_text(TENANTS, encoding="utf-8")
    async with open_rig({"CALLVISOR_TENANTS_FILE": str(path)}) as rig:
        driver = Driver(rig)
        yield driver
        for session in rig.platform.live_sessions.values():
            check_client_events("live", session.client_events)


async def place(driver: Driver, session_id: str, number: str = NUMBER) -> None:
    with trio.fail_after(WAIT_S):
        response = await driver.rig.live_call(session_id, to=f"sip:{number}@sip.example.com")
    assert response.json() == {"ok": True, "accepted": session_id}


async def start(driver: Driver, session_id: str, number: str = NUMBER) -> SimulatedLiveSession:
    await place(driver, session_id, number)
    await driver.rig.wait_session(session_id)
    return driver.platform.live_session(session_id)


async def session_counters(driver: Driver, session_id: str) -> dict[str, Any]:
    view = (await driver.admin("GET", f"/actors/{session_id}")).json()
    counters: dict[str, Any] = view["session"]
    return counters


# -- attach -------------------------------------------------------------------------------


async def test_an_admission_error_first_fails_the_start(live: Driver, mock_clock: trio.testing.MockClock) -> None:
    """The first frame is an ``error``: call_session_start_failed admission_error, hung up."""
    session = live.platform.expect_live_session("live_admit")
    session.started_on_attach = False
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: session.send_error(code="sip_not_enabled", message="GPT-Live SIP is off"))
        await place(live, "live_admit")
    failed = await live.log("call_session_start_failed", "live_admit")
    assert failed["reason"] == "admission_error"
    assert failed["detail"] == "sip_not_enabled: GPT-Live SIP is off"
    assert (await live.request("hangup", "live_admit")).runtime == "live"
    assert (await live.ended("live_admit"))["reason"] == "session_start_failed"
    await live.assert_no_leaks()


async def test_a_quiet_attach_is_up_after_a_second(live: Driver, mock_clock: trio.testing.MockClock) -> None:
    """Nothing is required first on a Live sideband: with no event at all, the session is up
    after QUIET_START_S and the greeting goes out."""
    session = live.platform.expect_live_session("live_quiet")
    session.started_on_attach = False
    await place(live, "live_quiet")
    began = trio.current_time()
    await live.log("call_session_started", "live_quiet")
    assert trio.current_time() - began >= QUIET_START_S
    with trio.fail_after(WAIT_S):
        await session.wait_for_client_event("session.commentary.append")
    await live.caller_hangup(session)  # type: ignore[arg-type]
    await live.assert_no_leaks()


async def test_the_greeting_can_be_an_instruction_append(live: Driver, mock_clock: trio.testing.MockClock) -> None:
    """live.greeting_event: instructions sends session.instructions.append, and the model speaks."""
    session = await start(live, "live_instructed", INSTRUCTED)
    session.speaking_appends = frozenset({"session.instructions.append"})
    with trio.fail_after(WAIT_S):
        event = await session.wait_for_client_event("session.instructions.append")
    assert event["delegation_id"] is None
    assert "Instructed, hello." in event["content"]
    assert not [e for e in session.client_events if e["type"] == "session.commentary.append"]
    await live.caller_hangup(session)  # type: ignore[arg-type]
    await live.assert_no_leaks()


# -- the end ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("closed", "reason"),
    [
        ("expired", "session_expired"),
        ("content", "session_content_filtered"),
        ("connection_lost", "session_connection_lost"),
        ("close_requested", "session_closed"),
    ],
)
async def test_session_closed_ends_the_call_with_its_reason(
    live: Driver, mock_clock: trio.testing.MockClock, closed: str, reason: str
) -> None:
    """session.closed is the end: the call ends with the reason it names, and no hangup is sent."""
    session = await start(live, f"live_closed_{closed}")
    with trio.fail_after(WAIT_S):
        await session.close(closed)
    ended = await live.ended(session.session_id)
    assert (ended["reason"], ended["closed_reason"]) == (reason, closed)
    assert live.platform.actions(session.session_id) == ["accept"]
    await live.assert_no_leaks()


async def test_a_lost_sideband_is_attached_again_and_the_call_goes_on(
    live: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """TCP dropped without session.closed, the session alive: live_sideband_lost, one more
    attach, and the call goes on (a tool call answered on the new socket)."""
    session = await start(live, "live_lost")
    with trio.fail_after(WAIT_S):
        await session.abort()
    lost = await live.log("live_sideband_lost", "live_lost")
    assert lost["close_code"] == 1006
    with trio.fail_after(WAIT_S):
        await session.wait_connected()
        tool_call_id = await session.function_call("no_such_tool", "{}")
        output = await session.wait_tool_output(tool_call_id)
    assert json.loads(output["item"]["output"])["error"] == "tool_not_found"
    assert len(session.attach_paths) == 2
    assert (await session_counters(live, "live_lost"))["reattaches"] == 1
    tasks = (await live.admin("GET", "/actors/live_lost")).json()["tasks"]
    assert "live-reattach" in [task["task"] for task in tasks]
    ended = await live.caller_hangup(session)  # type: ignore[arg-type]
    assert (ended["reason"], ended["reattached"]) == ("caller_hangup", True)
    await live.assert_no_leaks()


async def test_a_lost_sideband_of_an_ended_session_hangs_up(
    live: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """Dropped, and the session gone (the attach gets 404): hung up, ended as sideband_lost."""
    session = await start(live, "live_gone")
    with trio.fail_after(WAIT_S):
        await session.abort(end_call=True)
    await live.ended("live_gone")
    failed = [line for line in live.logs.events("live_sideband_lost") if line.get("call_id") == "live_gone"]
    assert [line.get("reattach") for line in failed] == [None, "handshake_rejected"]
    ended = await live.ended("live_gone")
    assert (ended["reason"], ended["reattached"]) == ("sideband_lost", True)
    assert live.platform.actions("live_gone") == ["accept", "hangup"]
    assert live.logs.events("call_hangup_failed") == []  # the 404 of a gone session is quiet
    await live.assert_no_leaks()


# -- tools and audio ----------------------------------------------------------------------


async def test_parallel_function_calls_get_every_output_then_one_response_create(
    live: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """One delegation calling two functions: two response.item.create, then one response.create."""
    session = await start(live, "live_parallel")
    with trio.fail_after(WAIT_S):
        ids = await session.function_calls([("no_such_tool", "{}"), ("other_missing", "{}")])
        for tool_call_id in ids:
            await session.wait_tool_output(tool_call_id)
        await session.wait_for_client_event("response.create")
    await trio.sleep(5)
    kinds = [e["type"] for e in session.client_events if e["type"] in ("response.item.create", "response.create")]
    assert kinds == ["response.item.create", "response.item.create", "response.create"]
    assert live.logs.events("live_error") == []  # the platform took all of it
    await live.caller_hangup(session)  # type: ignore[arg-type]
    await live.assert_no_leaks()


async def test_reflected_audio_is_counted_not_read_as_events(
    live: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """The caller's reflected audio (50 frames a second) shows as audio_frames, not events."""
    live.platform.reflect_audio = True
    live.platform.audio_frame_ms = 200  # fewer mock-clock jumps; the rate is not what is tested
    session = await start(live, "live_audio")
    await trio.sleep(4)
    counters = await session_counters(live, "live_audio")
    assert counters["audio_frames"] >= 15
    assert counters.get("unreadable_events", 0) == 0
    assert counters["events_received"] < 10  # session.started, acknowledgements, speech transcript
    ended = await live.caller_hangup(session)  # type: ignore[arg-type]
    assert ended["audio_frames"] >= counters["audio_frames"]
    await live.assert_no_leaks()


async def test_an_error_event_is_logged_and_the_call_goes_on(
    live: Driver, mock_clock: trio.testing.MockClock
) -> None:
    session = await start(live, "live_err")
    with trio.fail_after(WAIT_S):
        await session.send_error(code="invalid_value", message="nope", param="content")
    line = await live.log("live_error", "live_err")
    assert (line["code"], line["error_message"], line["param"]) == ("invalid_value", "nope", "content")
    assert (await live.admin("GET", "/actors/live_err")).json()["state"] == "live"
    await live.caller_hangup(session)  # type: ignore[arg-type]
    await live.assert_no_leaks()
