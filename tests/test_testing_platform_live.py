"""The simulated platform's GPT-Live REST paths and webhooks, driven by the openai SDK's Live client."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
import trio
from openai.types.webhooks import LiveCallIncomingWebhookEvent, LiveTransportIncomingWebhookEvent
from trio.testing import MockClock

from supervisor.testing import (
    LIVE_INCOMING,
    LIVE_INCOMING_DEPRECATED,
    SimulatedPlatform,
    WebhookSigner,
    live_incoming_event,
    new_secret,
    place_call,
    sip_call_pair,
)

SESSION = {"type": "live", "model": "gpt-live-1", "audio": {"output": {"voice": "marin"}}}


async def status_of(request: Any) -> int:
    try:
        await request
    except openai.APIStatusError as err:
        return err.status_code
    return 200


async def test_live_accept_reject_hangup_refer_are_recorded(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """The SDK's Live calls reach /live/sessions/{id}/..., are recorded as live and move the call on."""
    sessions = client.live.sessions
    platform.refer_closes_after_s = None  # the refer leaves the call up, for the hangup
    platform.expect_call("live_1", runtime="live")
    platform.expect_call("live_2", runtime="live")
    await sessions.accept("live_1", session=SESSION)  # type: ignore[arg-type]
    await sessions.refer("live_1", target_uri="tel:+14155550123")
    await sessions.hangup("live_1")
    await sessions.reject("live_2", status_code=486)

    assert [(r.action, r.call_id, r.runtime) for r in platform.requests] == [
        ("accept", "live_1", "live"),
        ("refer", "live_1", "live"),
        ("hangup", "live_1", "live"),
        ("reject", "live_2", "live"),
    ]
    assert platform.requests[0].body == {"session": SESSION}
    assert platform.requests[3].body == {"status_code": 486}
    assert platform.call("live_1").accept_body == {"session": SESSION}
    assert platform.call("live_1").refer_target == "tel:+14155550123"
    assert (platform.call("live_1").ended_by, platform.call("live_2").ended_by) == ("hangup", "rejected")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"type": "live", "model": "gpt-live-1"}, "session"),
        ({"session": {"model": "gpt-live-1"}}, "session.type"),
        ({"session": {"type": "realtime", "model": "gpt-live-1"}}, "session.type"),
        ({"session": {"type": "live"}}, "session.model"),
        ({"session": {"type": "live", "model": " "}}, "session.model"),
        ({"session": {**SESSION, "tools": []}}, "session.tools"),
        ({"session": {**SESSION, "audio": {"output": {"voice": "marin", "format": {}}}}}, "session.audio.output"),
        ({"session": {**SESSION, "audio": {"input": {}}}}, "session.audio.input"),
        ({"session": SESSION, "type": "live"}, "type"),
    ],
)
async def test_live_accept_refuses_what_the_strict_config_refuses(
    mock_clock: MockClock, platform: SimulatedPlatform, body: dict[str, Any], param: str
) -> None:
    """A Live accept must be {"session": {type live, model, known keys}}: anything else is a 400 naming it."""
    platform.expect_call("live_1", runtime="live")
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{platform.base_url}/live/sessions/live_1/accept",
            json=body,
            headers={"Authorization": f"Bearer {platform.api_key}"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert platform.call("live_1").state == "incoming"


@pytest.mark.parametrize("status_code", [None, "486", 299, 700])
async def test_live_reject_needs_a_status_code_from_300_to_699(
    mock_clock: MockClock, platform: SimulatedPlatform, status_code: object
) -> None:
    """Unlike Realtime's, a Live reject without a whole status_code in 300..699 is a 400."""
    platform.expect_call("live_1", runtime="live")
    body = {} if status_code is None else {"status_code": status_code}
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{platform.base_url}/live/sessions/live_1/reject",
            json=body,
            headers={"Authorization": f"Bearer {platform.api_key}"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "status_code"
    assert platform.call("live_1").state == "incoming"


async def test_live_refer_needs_a_target(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """A blank target_uri is refused; the call stays accepted."""
    platform.expect_call("live_1", runtime="live")
    await client.live.sessions.accept("live_1", session=SESSION)  # type: ignore[arg-type]
    assert await status_of(client.live.sessions.refer("live_1", target_uri="  ")) == 400
    assert platform.call("live_1").state == "accepted"


async def test_each_surface_knows_only_its_own_ids(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """A Realtime id on the Live paths, or a Live id on the Realtime paths, is a 404."""
    platform.expect_call("rtc_1")
    platform.expect_call("live_1", runtime="live")
    assert await status_of(client.live.sessions.accept("rtc_1", session=SESSION)) == 404  # type: ignore[arg-type]
    assert await status_of(client.realtime.calls.accept("live_1", type="realtime")) == 404
    assert await status_of(client.live.sessions.hangup("live_9")) == 404
    assert (platform.call("rtc_1").state, platform.call("live_1").state) == ("incoming", "incoming")
    with pytest.raises(ValueError, match="unknown runtime"):
        platform.expect_call("x", runtime="sip")


async def test_live_paths_take_the_same_scripts(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """fail, delay and drop apply to the Live paths as to the Realtime ones, by action and id."""
    sessions = client.live.sessions
    platform.expect_call("live_1", runtime="live")
    platform.fail("accept", call_id="live_1", status=503)
    assert await status_of(sessions.accept("live_1", session=SESSION)) == 503  # type: ignore[arg-type]
    platform.delay("accept", 30, call_id="live_1")
    with trio.move_on_after(5) as scope:
        await sessions.accept("live_1", session=SESSION)  # type: ignore[arg-type]
    assert scope.cancelled_caught
    platform.drop("accept", call_id="live_1")
    with pytest.raises(openai.APIConnectionError):
        await sessions.accept("live_1", session=SESSION)  # type: ignore[arg-type]
    assert platform.pending_scripts() == []
    await sessions.accept("live_1", session=SESSION)  # type: ignore[arg-type]
    assert platform.call("live_1").state == "accepted"
    assert [r.runtime for r in platform.requests] == ["live"] * 4


async def test_live_requests_need_the_api_key(
    mock_clock: MockClock, platform: SimulatedPlatform
) -> None:
    """A Live request with another key is a 401, recorded, with no effect."""
    platform.expect_call("live_1", runtime="live")
    async with openai.AsyncOpenAI(api_key="sk-wrong", base_url=platform.base_url, max_retries=0) as other:
        assert await status_of(other.live.sessions.hangup("live_1")) == 401
    assert platform.actions("live_1") == ["hangup"]
    assert platform.call("live_1").state == "incoming"


@pytest.mark.parametrize("deprecated", [False, True])
def test_live_webhooks_unwrap_as_the_sdks_live_events(deprecated: bool) -> None:
    """The signed Live events are what the SDK's unwrap() reads as its Live classes, id in data.session_id."""
    signer = WebhookSigner(new_secret())
    event = live_incoming_event("live_1", deprecated=deprecated)
    body = httpx.Request("POST", "http://x", json=event).content
    headers = signer.sign(body, webhook_id="wh_1", timestamp=int(event["created_at"]))
    sdk = openai.OpenAI(api_key="sk-unused", webhook_secret=signer.secret)
    unwrapped = sdk.webhooks.unwrap(body, headers)
    expected = LiveCallIncomingWebhookEvent if deprecated else LiveTransportIncomingWebhookEvent
    assert type(unwrapped) is expected
    assert unwrapped.type == (LIVE_INCOMING_DEPRECATED if deprecated else LIVE_INCOMING)
    assert unwrapped.data.session_id == "live_1"
    assert ("type" in event["data"]) is not deprecated


def test_a_sip_call_pair_shares_only_the_call_id_header() -> None:
    """The Realtime and Live webhooks of one SIP call have different ids and one SIP Call-ID."""
    realtime, live = sip_call_pair("rtc_1", "live_1", sip_call_id="abc@pbx")
    assert (realtime["data"]["call_id"], live["data"]["session_id"]) == ("rtc_1", "live_1")
    headers = [
        {h["name"]: h["value"] for h in event["data"]["sip_headers"]} for event in (realtime, live)
    ]
    assert headers[0]["Call-ID"] == headers[1]["Call-ID"] == "abc@pbx"
    assert realtime["id"] != live["id"]


async def test_place_call_registers_a_live_session_on_the_live_surface(
    mock_clock: MockClock, platform: SimulatedPlatform, nursery: trio.Nursery
) -> None:
    """place_call with a Live event makes data.session_id known as a live call."""
    signer = WebhookSigner(new_secret())
    async with httpx.AsyncClient() as http:
        # Nothing listens here: only the registration matters, the POST fails.
        with pytest.raises(httpx.ConnectError):
            await place_call("http://127.0.0.1:9", signer, live_incoming_event("live_7"), platform=platform, client=http)
    assert platform.call("live_7").runtime == "live"
