"""Intake when OpenAI's call control misbehaves: 5xx, 404 (caller gone), slow answers, races.

A decision OpenAI could not be told is answered 503 so that OpenAI redelivers, and the
redelivery decides afresh; a definitive one (accepted, rejected, gone) is never taken twice.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from supervisor.testing import incoming_call_event
from tests.rig import ACME, UNROUTED, WAIT_S, Rig

RETRY_ACCEPT = {"ok": False, "error": "call_accept_failed", "retry": True}
RETRY_REJECT = {"ok": False, "error": "call_reject_failed", "retry": True}


async def deliver(rig: Rig, event: dict[str, Any], *, webhook_id: str) -> httpx.Response:
    """Deliver ``event`` as OpenAI does: the same body and webhook-id, signed at each attempt."""
    rig.platform.expect_call(event["data"]["call_id"])
    body = json.dumps(event).encode()
    headers = rig.signer.sign(body, webhook_id=webhook_id, timestamp=int(time.time()))
    return await rig.post_raw(body, {**headers, "content-type": "application/json"})


async def capacity(rig: Rig) -> dict[str, Any]:
    """Slots in use (overall and by tenant) and live calls, from the operator's GET /actors."""
    with trio.fail_after(WAIT_S):
        response = await rig.http.get(f"{rig.admin_url}/actors")
    assert response.status_code == 200
    tree: dict[str, Any] = response.json()
    return {
        "used": tree["capacity"]["used"],
        "by_tenant": tree["capacity"].get("by_tenant", {}),
        "calls": [call["call_id"] for call in tree["calls"]],
    }


async def test_accept_500_is_503_then_redelivery_is_accepted(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """Accept answered 500: 503 retry and call_accept_failed(openai_5xx); the redelivery is accepted."""
    event = incoming_call_event("rtc_flaky", to=ACME)
    rig.platform.fail("accept", call_id="rtc_flaky", status=500)

    first = await deliver(rig, event, webhook_id="wh_flaky")

    assert first.status_code == 503
    assert first.json() == RETRY_ACCEPT
    line = await rig.wait_log("call_accept_failed", call_id="rtc_flaky")
    assert line["level"] == "ERROR"
    assert line["tenant_id"] == "acme-corp"
    assert line["error"]["error_type"] == "CallAcceptError"
    assert line["error"]["reason"] == "openai_5xx"
    assert line["error"]["context"]["status"] == 500
    assert await capacity(rig) == {"used": 0, "by_tenant": {}, "calls": []}

    second = await deliver(rig, event, webhook_id="wh_flaky")

    assert second.status_code == 200
    assert second.json() == {"ok": True, "accepted": "rtc_flaky"}
    assert rig.actions("rtc_flaky") == ["accept", "accept"]
    assert rig.logs.events("duplicate_webhook_id") == []
    assert rig.platform.pending_scripts() == []
    await rig.wait_session("rtc_flaky")

    third = await deliver(rig, event, webhook_id="wh_flaky")
    assert third.json() == {"ok": True, "duplicate": True}
    assert rig.actions("rtc_flaky") == ["accept", "accept"]


async def test_accept_404_means_gone_and_redelivery_is_a_duplicate(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """The caller hung up before accept (404): 200 gone, call_gone WARNING, redeliveries duplicate."""
    event = incoming_call_event("rtc_gone", to=ACME)
    rig.platform.gone("rtc_gone")

    first = await deliver(rig, event, webhook_id="wh_gone")

    assert first.status_code == 200
    assert first.json() == {"ok": True, "gone": "rtc_gone"}
    line = await rig.wait_log("call_gone", call_id="rtc_gone")
    assert line["level"] == "WARNING"
    assert line["tenant_id"] == "acme-corp"
    assert line["error"]["error_type"] == "CallGoneError"
    assert line["error"]["reason"] == "call_not_found"
    assert rig.logs.events("call_accepted") == []
    assert rig.logs.events("call_accept_failed") == []

    again = await deliver(rig, event, webhook_id="wh_gone")
    renamed = await deliver(rig, event, webhook_id="wh_gone_2")

    assert again.json() == renamed.json() == {"ok": True, "duplicate": True}
    assert rig.actions("rtc_gone") == ["accept"]
    assert await capacity(rig) == {"used": 0, "by_tenant": {}, "calls": []}


@pytest.mark.parametrize("rig_env", [{"CALLVISOR_CALL_CONTROL_TIMEOUT_S": "1.5"}], ids=["timeout-1.5s"])
async def test_slow_accept_times_out_with_503_and_frees_its_slot(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """Accept slower than CALLVISOR_CALL_CONTROL_TIMEOUT_S: 503, reason timeout, no slot held after."""
    event = incoming_call_event("rtc_slow", to=ACME)
    rig.platform.delay("accept", 30.0, call_id="rtc_slow")
    started = trio.current_time()

    response = await deliver(rig, event, webhook_id="wh_slow")

    assert response.status_code == 503
    assert response.json() == RETRY_ACCEPT
    assert 1.5 <= trio.current_time() - started < 30.0
    line = await rig.wait_log("call_accept_failed", call_id="rtc_slow")
    assert line["level"] == "ERROR"
    assert line["tenant_id"] == "acme-corp"
    assert line["error"]["error_type"] == "CallAcceptError"
    assert line["error"]["reason"] == "timeout"
    assert rig.actions("rtc_slow") == ["accept"]
    assert await capacity(rig) == {"used": 0, "by_tenant": {}, "calls": []}


async def test_reject_500_is_503_then_redelivery_is_rejected(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """Reject answered 500: 503 call_reject_failed, then the redelivery is rejected (SIP 404)."""
    event = incoming_call_event("rtc_lost", to=UNROUTED)
    rig.platform.fail("reject", call_id="rtc_lost", status=500)

    first = await deliver(rig, event, webhook_id="wh_lost")

    assert first.status_code == 503
    assert first.json() == RETRY_REJECT
    line = await rig.wait_log("call_reject_failed", call_id="rtc_lost")
    assert line["level"] == "ERROR"
    assert line["tenant_id"] is None
    assert line["error"]["error_type"] == "CallRejectError"
    assert line["error"]["reason"] == "openai_5xx"
    assert rig.logs.events("call_rejected") == []

    second = await deliver(rig, event, webhook_id="wh_lost")

    assert second.status_code == 200
    assert second.json() == {"ok": True, "rejected": "tenant_resolution_failed"}
    assert [(r.action, r.body) for r in rig.platform.requests_for("rtc_lost")] == [
        ("reject", {"status_code": 404}),
        ("reject", {"status_code": 404}),
    ]
    rejected = await rig.wait_log("call_rejected", call_id="rtc_lost")
    assert rejected["sip_status"] == 404


@pytest.mark.parametrize("same_webhook_id", [True, False], ids=["same-webhook-id", "new-webhook-id"])
async def test_concurrent_deliveries_accept_once(
    rig: Rig, mock_clock: trio.testing.MockClock, same_webhook_id: bool
) -> None:
    """Two overlapping deliveries of one call: exactly one accept; one answer accepted, one duplicate."""
    event = incoming_call_event("rtc_race", to=ACME)
    rig.platform.delay("accept", 2.0, call_id="rtc_race")
    answers: list[dict[str, Any]] = []

    async def post(webhook_id: str) -> None:
        response = await deliver(rig, event, webhook_id=webhook_id)
        assert response.status_code == 200
        answers.append(response.json())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(post, "wh_race_1")
        with trio.fail_after(WAIT_S):
            await rig.platform.wait_for_request("accept", "rtc_race")  # the first is deciding
        nursery.start_soon(post, "wh_race_1" if same_webhook_id else "wh_race_2")

    assert answers == [{"ok": True, "accepted": "rtc_race"}, {"ok": True, "duplicate": True}]
    assert rig.actions("rtc_race") == ["accept"]
    assert len(rig.logs.events("call_accepted")) == 1
    duplicate = await rig.wait_log("duplicate_webhook_id", call_id="rtc_race")
    assert duplicate["duplicate_of"] == ("webhook_id" if same_webhook_id else "call_id")
    await rig.wait_session("rtc_race")


async def test_delivery_waiting_on_a_failed_one_decides_itself(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """A redelivery overlapping a delivery whose accept fails is not a duplicate: it accepts."""
    event = incoming_call_event("rtc_retry", to=ACME)
    rig.platform.delay("accept", 2.0, call_id="rtc_retry")
    rig.platform.fail("accept", call_id="rtc_retry", status=502)
    answers: list[tuple[int, dict[str, Any]]] = []

    async def post() -> None:
        response = await deliver(rig, event, webhook_id="wh_retry")
        answers.append((response.status_code, response.json()))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(post)
        with trio.fail_after(WAIT_S):
            await rig.platform.wait_for_request("accept", "rtc_retry")
        nursery.start_soon(post)

    assert answers == [(503, RETRY_ACCEPT), (200, {"ok": True, "accepted": "rtc_retry"})]
    assert rig.actions("rtc_retry") == ["accept", "accept"]
    assert rig.logs.events("duplicate_webhook_id") == []
    await rig.wait_session("rtc_retry")


async def test_delivery_abandoned_mid_accept_still_completes_the_call(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """If OpenAI gives up on a slow delivery, the accept already sent still yields a live call."""
    # Until the actor reports its decision it runs under the request's task (nursery.start), so
    # the decision must be shielded from the request's cancellation when the sender hangs up.
    event = incoming_call_event("rtc_abandoned", to=ACME)
    rig.platform.delay("accept", 2.0, call_id="rtc_abandoned")

    with trio.move_on_after(1.0) as abandoned:
        await deliver(rig, event, webhook_id="wh_abandoned")
    assert abandoned.cancelled_caught

    accepted = await rig.wait_log("call_accepted", call_id="rtc_abandoned")
    assert accepted["tenant_id"] == "acme-corp"
    await rig.wait_session("rtc_abandoned")
    redelivered = await deliver(rig, event, webhook_id="wh_abandoned")
    assert redelivered.json() == {"ok": True, "duplicate": True}
    assert rig.actions("rtc_abandoned") == ["accept"]
