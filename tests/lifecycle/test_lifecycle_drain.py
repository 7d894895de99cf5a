"""Drain: POST /drain stops admitting, gives live calls a grace period, then hangs up the rest."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

if TYPE_CHECKING:
    from tests.lifecycle.conftest import Driver

GRACE_S = 5.0


@pytest.mark.parametrize("rig_env", [{"CALLVISOR_DRAIN_GRACE_S": str(GRACE_S)}], ids=["grace_5s"])
async def test_drain_rejects_new_calls_and_hangs_up_live_ones_after_the_grace(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """Draining: 202, /ready 503, /health draining, new calls rejected (SIP 503), live calls hung up after the grace."""
    await driver.start("rtc_live")
    drain_at = trio.current_time()
    response = await driver.admin("POST", "/drain")
    assert response.status_code == 202
    assert response.json() == {"ok": True, "draining": True}
    started = await driver.log("drain_started")
    assert started["level"] == "WARNING"
    assert started["live_calls"] == 1

    ready = await driver.admin("GET", "/ready")
    assert ready.status_code == 503
    assert {k: ready.json()[k] for k in ("ok", "ready", "draining")} == {"ok": False, "ready": False, "draining": True}
    health = await driver.public("GET", "/health")
    assert health.status_code == 200
    assert health.json()["draining"] is True
    assert health.json()["status"] == "draining"
    tree = await driver.actors()
    assert tree["draining"] is True
    assert [call["call_id"] for call in tree["calls"]] == ["rtc_live"]

    refused = await driver.rig.call("rtc_during_drain")
    assert refused.status_code == 200
    assert refused.json() == {"ok": True, "rejected": "draining"}
    reject = await driver.request("reject", "rtc_during_drain")
    assert reject.body == {"status_code": 503}
    rejected = await driver.log("call_rejected", "rtc_during_drain")
    assert rejected["reason"] == "draining"
    assert driver.platform.actions("rtc_during_drain") == ["reject"]

    hangup = await driver.request("hangup", "rtc_live")
    assert drain_at + GRACE_S <= hangup.at < drain_at + GRACE_S + 2.0
    ended = await driver.ended("rtc_live")
    assert ended["reason"] == "drain"
    finished = await driver.log("drain_finished")
    assert finished["ended_by_drain"] == 1
    assert finished["live_calls"] == 0
    # The operator port shuts down after the drain; check the state directly.
    await driver.assert_no_leaks(via_http=False)


@pytest.mark.parametrize("rig_env", [{"CALLVISOR_DRAIN_GRACE_S": "30"}], ids=["grace_30s"])
async def test_call_ending_during_the_grace_is_not_hung_up_by_the_drain(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """A call that ends by itself during the grace keeps its own end reason and the drain finishes at once."""
    call = await driver.start("rtc_finishes")
    drain_at = trio.current_time()
    assert (await driver.admin("POST", "/drain")).status_code == 202
    await driver.log("drain_started")
    ended = await driver.caller_hangup(call)
    assert ended["reason"] == "caller_hangup"
    finished = await driver.log("drain_finished")
    assert finished["ended_by_drain"] == 0
    assert trio.current_time() < drain_at + 30
    assert driver.platform.actions("rtc_finishes") == ["accept"]
    assert driver.logs.events("call_ended", call_id="rtc_finishes") == [ended]
    await driver.assert_no_leaks(via_http=False)


async def test_drain_without_calls_finishes_at_once(driver: Driver, mock_clock: trio.testing.MockClock) -> None:
    """With no live call, a drain (default grace 30 s) finishes without waiting for the grace."""
    drain_at = trio.current_time()
    assert (await driver.admin("POST", "/drain")).status_code == 202
    finished = await driver.log("drain_finished")
    assert finished["ended_by_drain"] == 0
    assert trio.current_time() < drain_at + 30
    assert driver.platform.requests == []
    await driver.assert_no_leaks(via_http=False)


@pytest.mark.parametrize("rig_env", [{"CALLVISOR_DRAIN_GRACE_S": "1"}], ids=["grace_1s"])
async def test_drain_counts_only_the_calls_it_ended(driver: Driver, mock_clock: trio.testing.MockClock) -> None:
    """A call already ending (its hangup stalled) when the grace runs out is not counted in ended_by_drain."""
    await driver.start("rtc_already_ending")
    driver.platform.delay("hangup", 30.0, call_id="rtc_already_ending")
    assert (await driver.admin("POST", "/actors/rtc_already_ending/hangup")).status_code == 202
    await driver.request("hangup", "rtc_already_ending")  # stalled: the call stays registered a while
    assert (await driver.admin("POST", "/drain")).status_code == 202
    ended = await driver.ended("rtc_already_ending")
    assert ended["reason"] == "operator_hangup"
    finished = await driver.log("drain_finished")
    assert finished["ended_by_drain"] == 0
