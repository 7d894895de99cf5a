"""The simulated OpenAI platform, driven by the real openai SDK and a real trio-websocket client."""

from __future__ import annotations

import gc
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai
import pydantic
import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from openai.types.realtime import RealtimeServerEvent
from quart import request
from quart_trio import QuartTrio
from trio.testing import MockClock
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    open_websocket_url,
    wrap_client_stream,
)

from supervisor.testing import (
    PlatformUrls,
    SimulatedPlatform,
    WebhookSigner,
    incoming_call_event,
    new_secret,
    open_platform,
    place_call,
)
from supervisor.webhooks import verify_webhook

SERVER_EVENT = pydantic.TypeAdapter(RealtimeServerEvent)


@asynccontextmanager
async def sideband(
    platform: SimulatedPlatform, call_id: str, *, api_key: str | None = None
) -> AsyncIterator[WebSocketConnection]:
    """A trio-websocket client on ``call_id``'s sideband, over a TCP stream the test owns.

    ``open_websocket_url`` would do, except that trio-websocket 0.12.2 never closes its socket
    after a rejected handshake or an abnormal closure (pinned by the two tests below).  Owning
    the stream lets the test close it instead of leaving it to the garbage collector.
    """
    url = urlsplit(platform.realtime_url)
    assert url.hostname is not None
    assert url.port is not None
    token = f"Bearer {api_key or platform.api_key}".encode()
    stream = await trio.open_tcp_stream(url.hostname, url.port)
    try:
        async with trio.open_nursery() as nursery:
            ws = await wrap_client_stream(
                nursery,
                stream,
                url.netloc,
                f"{url.path}?call_id={call_id}",
                extra_headers=[(b"Authorization", token)],
            )
            try:
                yield ws
            finally:
                with trio.move_on_after(5):
                    await ws.aclose()
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1 and isinstance(group.exceptions[0], ConnectionRejected):
            raise group.exceptions[0] from None
        raise
    finally:
        await trio.aclose_forcefully(stream)


def websocket_url(
    platform: SimulatedPlatform, call_id: str
) -> tuple[str, list[tuple[bytes, bytes]]]:
    """URL and headers for ``open_websocket_url`` on ``call_id``'s sideband."""
    token = f"Bearer {platform.api_key}".encode()
    return f"{platform.realtime_url}?call_id={call_id}", [(b"Authorization", token)]


async def rejection(
    platform: SimulatedPlatform, call_id: str, *, api_key: str | None = None
) -> ConnectionRejected | None:
    """Try the sideband handshake (hanging up at once if it succeeds); the rejection, if any."""
    try:
        async with sideband(platform, call_id, api_key=api_key):
            return None
    except ConnectionRejected as rejected:
        return rejected


async def handshake(
    platform: SimulatedPlatform, call_id: str, *, api_key: str | None = None
) -> int:
    """101 if the sideband handshake succeeds, else the rejection's HTTP status."""
    rejected = await rejection(platform, call_id, api_key=api_key)
    return 101 if rejected is None else rejected.status_code


async def receive(ws: WebSocketConnection) -> dict[str, Any]:
    """The next server event, checked against the SDK's model of server events."""
    event: dict[str, Any] = json.loads(await ws.get_message())
    SERVER_EVENT.validate_python(event)
    return event


async def accepted_call(
    platform: SimulatedPlatform, client: openai.AsyncOpenAI, call_id: str
) -> None:
    platform.expect_call(call_id)
    await client.realtime.calls.accept(call_id, type="realtime", instructions="Be brief.")


# -- REST through the openai SDK -----------------------------------------------------------


async def test_sdk_call_control_is_recorded(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """accept/reject/hangup/refer from the SDK return None and are recorded in order."""
    platform.refer_closes_after_s = None  # the refer goes nowhere, so we hang up after it
    platform.expect_call("rtc_1")
    platform.expect_call("rtc_2")
    calls = client.realtime.calls
    await calls.accept("rtc_1", type="realtime", model="gpt-realtime", instructions="Hi")
    await calls.reject("rtc_2", status_code=486)
    await calls.refer("rtc_1", target_uri="tel:+14155550123")
    await calls.hangup("rtc_1")

    assert [(r.action, r.call_id) for r in platform.requests] == [
        ("accept", "rtc_1"),
        ("reject", "rtc_2"),
        ("refer", "rtc_1"),
        ("hangup", "rtc_1"),
    ]
    accept = platform.requests_for("rtc_1")[0]
    assert accept.body == {"type": "realtime", "model": "gpt-realtime", "instructions": "Hi"}
    assert accept.headers["authorization"] == f"Bearer {platform.api_key}"
    assert platform.requests_for("rtc_2")[0].body == {"status_code": 486}
    assert platform.actions("rtc_1") == ["accept", "refer", "hangup"]
    assert platform.call("rtc_1").refer_target == "tel:+14155550123"
    assert (platform.call("rtc_1").state, platform.call("rtc_1").ended_by) == ("ended", "hangup")
    assert (platform.call("rtc_2").state, platform.call("rtc_2").ended_by) == ("ended", "rejected")


async def test_unknown_gone_and_ended_calls_are_not_found(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """Calls never placed, gone, or already ended answer 404 call_not_found (NotFoundError)."""
    platform.gone("rtc_gone")
    await accepted_call(platform, client, "rtc_done")
    await client.realtime.calls.hangup("rtc_done")
    attempts = [
        client.realtime.calls.accept("rtc_never", type="realtime"),
        client.realtime.calls.accept("rtc_gone", type="realtime"),
        client.realtime.calls.reject("rtc_gone"),
        client.realtime.calls.hangup("rtc_gone"),
        client.realtime.calls.hangup("rtc_done"),
        client.realtime.calls.refer("rtc_done", target_uri="tel:+1"),
    ]
    for attempt in attempts:
        with pytest.raises(openai.NotFoundError) as caught:
            await attempt
        assert caught.value.code == "call_not_found"


async def test_wrong_api_key_is_401(mock_clock: MockClock, platform: SimulatedPlatform) -> None:
    """A request with another key gets AuthenticationError, and is still recorded."""
    platform.expect_call("rtc_1")
    async with openai.AsyncOpenAI(
        api_key="sk-wrong", base_url=platform.base_url, max_retries=0
    ) as c:
        with pytest.raises(openai.AuthenticationError):
            await c.realtime.calls.accept("rtc_1", type="realtime")
    assert platform.actions("rtc_1") == ["accept"]
    assert platform.call("rtc_1").state == "incoming"


async def test_bodies_openai_would_refuse_are_400(
    mock_clock: MockClock, platform: SimulatedPlatform
) -> None:
    """accept without type realtime, refer without target_uri, non-JSON bodies: 400."""
    platform.expect_call("rtc_1")
    auth = {"authorization": f"Bearer {platform.api_key}"}
    async with httpx.AsyncClient(base_url=platform.base_url, headers=auth) as http:
        missing_type = await http.post(
            "/realtime/calls/rtc_1/accept", json={"model": "gpt-realtime"}
        )
        not_json = await http.post("/realtime/calls/rtc_1/accept", content=b"{oops")
        assert (
            await http.post("/realtime/calls/rtc_1/accept", json={"type": "realtime"})
        ).status_code == 200
        no_target = await http.post("/realtime/calls/rtc_1/refer", json={})
        unknown = await http.post("/realtime/calls/rtc_1/transfer", json={})
    assert (missing_type.status_code, missing_type.json()["error"]["param"]) == (400, "type")
    assert not_json.status_code == 400
    assert (no_target.status_code, no_target.json()["error"]["param"]) == (400, "target_uri")
    assert unknown.status_code == 404


async def test_scripted_failures_are_consumed_in_order(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """fail() scripts answer their status FIFO, filtered by call_id, then requests succeed."""
    for call_id in ("rtc_1", "rtc_2"):
        platform.expect_call(call_id)
    platform.fail("accept", call_id="rtc_2", status=503, times=2)
    platform.fail("accept", status=500)
    assert platform.pending_scripts() == [
        "fail accept call_id=rtc_2 status=503 x2",
        "fail accept call_id=* status=500 x1",
    ]

    async def status(call_id: str) -> int:
        try:
            await client.realtime.calls.accept(call_id, type="realtime")
        except openai.APIStatusError as err:
            return err.status_code
        return 200

    assert [await status("rtc_1"), await status("rtc_1")] == [500, 200]
    assert [await status("rtc_2"), await status("rtc_2"), await status("rtc_2")] == [503, 503, 200]
    assert platform.pending_scripts() == []
    with pytest.raises(ValueError, match="unknown action"):
        platform.fail("transfer")


async def test_500_is_internal_server_error_and_the_sdk_retries(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """A scripted 500 surfaces as InternalServerError; with retries the SDK re-sends and wins."""
    platform.expect_call("rtc_1")
    platform.fail("accept")
    with pytest.raises(openai.InternalServerError):
        await client.realtime.calls.accept("rtc_1", type="realtime")
    platform.fail("accept")
    await client.with_options(max_retries=1).realtime.calls.accept("rtc_1", type="realtime")
    retries = [r.headers["x-stainless-retry-count"] for r in platform.requests_for("rtc_1")]
    assert platform.actions("rtc_1") == ["accept", "accept", "accept"]
    assert retries == ["0", "0", "1"]
    assert platform.call("rtc_1").state == "accepted"


async def test_delay_follows_the_test_clock(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """A scripted delay holds the answer in virtual time; a cancel scope or SDK timeout ends it."""
    platform.expect_call("rtc_1")
    platform.delay("accept", 30, times=2)
    start = trio.current_time()
    with trio.move_on_after(5) as scope:
        await client.realtime.calls.accept("rtc_1", type="realtime")
    assert scope.cancelled_caught
    assert trio.current_time() - start == pytest.approx(5, abs=0.5)
    with pytest.raises(openai.APITimeoutError):
        await client.with_options(timeout=2).realtime.calls.accept("rtc_1", type="realtime")
    await client.realtime.calls.accept("rtc_1", type="realtime")
    assert platform.call("rtc_1").state == "accepted"


async def test_wait_for_request_blocks_until_it_arrives(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """wait_for_request returns the nth matching request as soon as it is recorded."""
    await accepted_call(platform, client, "rtc_1")
    async with trio.open_nursery() as nursery:
        refer = partial(client.realtime.calls.refer, "rtc_1", target_uri="sip:agent@example.com")
        nursery.start_soon(refer)
        with trio.fail_after(5):
            recorded = await platform.wait_for_request("refer", "rtc_1")
            first = await platform.wait_for_request("accept", nth=1)
    assert recorded.body == {"target_uri": "sip:agent@example.com"}
    assert first.action == "accept"


# -- the sideband --------------------------------------------------------------------------


async def test_handshake_404_until_accepted_and_while_scripted(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """Unaccepted calls and fail_connect scripts get 404, a wrong key 401; then session.created."""
    platform.expect_call("rtc_1")
    rejected = await rejection(platform, "rtc_1")
    assert rejected is not None
    assert rejected.status_code == 404
    assert json.loads(rejected.body or b"")["error"]["code"] == "call_id_not_found"

    await client.realtime.calls.accept("rtc_1", type="realtime", instructions="Be brief.")
    platform.fail_connect(call_id="rtc_1", times=1)
    assert await handshake(platform, "rtc_1") == 404
    assert await handshake(platform, "rtc_1", api_key="sk-wrong") == 401
    assert await handshake(platform, "rtc_9") == 404
    async with sideband(platform, "rtc_1") as ws:
        created = await receive(ws)
        assert platform.open_sidebands() == 1
    assert created["type"] == "session.created"
    assert created["session"]["type"] == "realtime"
    assert created["session"]["instructions"] == "Be brief."
    assert [(h.call_id, h.status) for h in platform.handshakes] == [
        ("rtc_1", 404),
        ("rtc_1", 404),
        ("rtc_1", 401),
        ("rtc_9", 404),
        ("rtc_1", 101),
    ]


async def test_client_events_are_recorded_and_session_update_answered(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """Every client event is recorded; session.update needs session.type, as OpenAI's does."""
    await accepted_call(platform, client, "rtc_1")
    async with sideband(platform, "rtc_1") as ws:
        await receive(ws)
        await ws.send_message(json.dumps({"type": "session.update", "session": {"voice": "marin"}}))
        error = await receive(ws)
        await ws.send_message(
            json.dumps(
                {"type": "session.update", "session": {"type": "realtime", "instructions": "New."}}
            )
        )
        updated = await receive(ws)
        with trio.fail_after(5):
            second = await platform.wait_for_client_event("rtc_1", "session.update", nth=2)
    assert error["error"]["param"] == "session.type"
    assert updated["session"]["instructions"] == "New."
    assert second["session"]["instructions"] == "New."
    assert [e["type"] for e in platform.sideband_events("rtc_1")] == ["session.update"] * 2


async def test_function_call_round_trip(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """function_call emits the Realtime event sequence; wait_tool_output sees the client's result."""
    await accepted_call(platform, client, "rtc_1")
    call = platform.call("rtc_1")
    async with sideband(platform, "rtc_1") as ws:
        await receive(ws)
        with trio.fail_after(5):
            tool_call_id = await call.function_call("transfer_call", '{"department":"sales"}')
        events = [await receive(ws) for _ in range(5)]
        done = events[3]["item"]
        output = {
            "type": "function_call_output",
            "call_id": done["call_id"],
            "output": '{"ok":true}',
        }
        await ws.send_message(json.dumps({"type": "conversation.item.create", "item": output}))
        with trio.fail_after(5):
            result = await call.wait_tool_output(tool_call_id)
    assert [e["type"] for e in events] == [
        "response.created",
        "response.output_item.added",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.done",
    ]
    assert (done["type"], done["status"], done["name"]) == (
        "function_call",
        "completed",
        "transfer_call",
    )
    assert done["arguments"] == '{"department":"sales"}'
    assert events[2]["call_id"] == tool_call_id
    assert result["item"]["output"] == '{"ok":true}'


async def test_auto_audio_answers_response_create(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """response.create gets created, audio started, done, and stopped audio_duration_s later."""
    platform.audio_duration_s = 3.0
    await accepted_call(platform, client, "rtc_1")
    async with sideband(platform, "rtc_1") as ws:
        await receive(ws)
        await ws.send_message(json.dumps({"type": "response.create"}))
        seen = []
        for _ in range(4):
            seen.append(((await receive(ws))["type"], trio.current_time()))
    assert [kind for kind, _ in seen] == [
        "response.created",
        "output_audio_buffer.started",
        "response.done",
        "output_audio_buffer.stopped",
    ]
    assert seen[3][1] - seen[1][1] == pytest.approx(3.0, abs=0.5)


async def test_scripted_server_events(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """send waits for the client to connect; play_audio, send_error and raw events arrive as sent."""
    platform.auto_audio = False
    await accepted_call(platform, client, "rtc_1")
    call = platform.call("rtc_1")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(call.send, {"type": "unknown.future_event", "x": 1})
        async with sideband(platform, "rtc_1") as ws:
            assert (await receive(ws))["type"] == "session.created"
            assert json.loads(await ws.get_message()) == {"type": "unknown.future_event", "x": 1}
            await ws.send_message(json.dumps({"type": "response.create"}))
            await call.wait_for_client_event("response.create")
            await call.play_audio()
            await call.send_error(code="invalid_value", message="Bad.", client_event_id="evt_9")
            started, stopped, error = [await receive(ws) for _ in range(3)]
    assert (started["type"], stopped["type"]) == (
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
    )
    assert error["error"] == {
        "type": "invalid_request_error",
        "code": "invalid_value",
        "message": "Bad.",
        "param": None,
        "event_id": "evt_9",
    }


async def test_abort_drops_the_connection_without_a_close_frame(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """abort() looks like a real caller hangup: ConnectionClosed 1006, and the call is over."""
    await accepted_call(platform, client, "rtc_1")
    async with sideband(platform, "rtc_1") as ws:
        await receive(ws)
        with trio.fail_after(5):
            await platform.call("rtc_1").abort()
        with pytest.raises(ConnectionClosed) as caught:
            await ws.get_message()
    assert caught.value.reason.code == 1006
    assert platform.open_sidebands() == 0
    assert platform.call("rtc_1").ended_by == "caller_hangup"
    assert await handshake(platform, "rtc_1") == 404
    with pytest.raises(RuntimeError, match="has ended"):
        await platform.call("rtc_1").send({"type": "too.late"})


async def test_abort_without_ending_allows_a_reconnect(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """abort(end_call=False) is a network blip: the client may connect again."""
    await accepted_call(platform, client, "rtc_1")
    async with sideband(platform, "rtc_1") as ws:
        await receive(ws)
        with trio.fail_after(5):
            await platform.call("rtc_1").abort(end_call=False)
    async with sideband(platform, "rtc_1") as ws:
        assert (await receive(ws))["type"] == "session.created"


async def test_open_websocket_url_leaves_its_socket_open_after_an_abort(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """Pins an upstream leak: after a 1006, open_websocket_url's socket stays open (see sideband)."""
    await accepted_call(platform, client, "rtc_1")
    url, headers = websocket_url(platform, "rtc_1")
    async with open_websocket_url(url, extra_headers=headers) as ws:
        await receive(ws)
        with trio.fail_after(5):
            await platform.call("rtc_1").abort()
        with pytest.raises(ConnectionClosed) as caught:
            await ws.get_message()
    assert caught.value.reason.code == 1006
    leaked = ws._stream  # private, but the only handle left on the socket
    assert leaked.socket.fileno() != -1, "trio-websocket closes it now: simplify sideband()"
    await trio.aclose_forcefully(leaked)


async def test_open_websocket_url_leaves_its_socket_open_after_a_rejection(
    mock_clock: MockClock, platform: SimulatedPlatform
) -> None:
    """Pins an upstream leak: after ConnectionRejected the socket is only closed by the GC."""
    url, headers = websocket_url(platform, "rtc_never")
    with pytest.raises(ConnectionRejected):
        async with open_websocket_url(url, extra_headers=headers):
            pass
    with pytest.warns(ResourceWarning, match="unclosed <socket"):
        gc.collect()


async def test_close_and_caller_hangup_send_a_close_frame(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """close(code, reason) and caller_hangup() reach the client as ConnectionClosed with the code."""
    await accepted_call(platform, client, "rtc_1")
    await accepted_call(platform, client, "rtc_2")
    async with sideband(platform, "rtc_1") as ws:
        await receive(ws)
        with trio.fail_after(5):
            await platform.call("rtc_1").close(4000, "scripted")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
    async with sideband(platform, "rtc_2") as ws:
        await receive(ws)
        with trio.fail_after(5):
            await platform.call("rtc_2").caller_hangup()
        with pytest.raises(ConnectionClosed) as hung_up:
            await ws.get_message()
    assert (closed.value.reason.code, closed.value.reason.reason) == (4000, "scripted")
    assert hung_up.value.reason.code == 1000
    assert platform.call("rtc_2").ended_by == "caller_hangup"
    assert platform.open_sidebands() == 0


async def test_rest_hangup_closes_the_sideband(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """A 200 hangup closes that call's live sideband normally (1000)."""
    await accepted_call(platform, client, "rtc_1")
    async with sideband(platform, "rtc_1") as ws:
        await receive(ws)
        await client.realtime.calls.hangup("rtc_1")
        with pytest.raises(ConnectionClosed) as caught, trio.fail_after(5):
            await ws.get_message()
    assert caught.value.reason.code == 1000
    with trio.fail_after(5):
        await platform.wait_sidebands_closed()


async def test_refer_closes_after_a_delay_or_never(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """refer closes the sideband refer_closes_after_s later; None keeps it open (a silent refer)."""
    platform.refer_closes_after_s = 2.0
    await accepted_call(platform, client, "rtc_1")
    async with sideband(platform, "rtc_1") as ws:
        await receive(ws)
        start = trio.current_time()
        await client.realtime.calls.refer("rtc_1", target_uri="tel:+14155550123")
        with pytest.raises(ConnectionClosed) as caught, trio.fail_after(5):
            await ws.get_message()
    assert caught.value.reason.code == 1000
    assert trio.current_time() - start == pytest.approx(2.0, abs=0.5)
    assert platform.call("rtc_1").ended_by == "refer"

    platform.refer_closes_after_s = None
    await accepted_call(platform, client, "rtc_2")
    async with sideband(platform, "rtc_2") as ws:
        await receive(ws)
        await client.realtime.calls.refer("rtc_2", target_uri="tel:+14155550123")
        await trio.sleep(60)
        assert platform.open_sidebands() == 1
        assert platform.call("rtc_2").state == "accepted"
    with trio.fail_after(5):
        await platform.wait_sidebands_closed()


# -- webhooks into the app under test ------------------------------------------------------


@asynccontextmanager
async def webhook_receiver(signer: WebhookSigner) -> AsyncIterator[tuple[str, list[str]]]:
    """A quart-trio app that verifies deliveries with supervisor.webhooks; yields (url, ids)."""
    app = QuartTrio(__name__)
    received: list[str] = []

    @app.post("/webhooks/openai")
    async def webhook() -> tuple[dict[str, Any], int]:
        body = await request.get_data()
        meta = verify_webhook(body, request.headers, [signer.key], tolerance_s=300, now=time.time())
        received.append(json.loads(body)["data"]["call_id"])
        return {"ok": True, "webhook_id": meta.webhook_id}, 200

    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, app, config))
        yield binds[0], received
        nursery.cancel_scope.cancel()


async def test_place_call_delivers_a_signed_event(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """place_call signs the exact bytes, POSTs them, and registers the call with the platform."""
    signer = WebhookSigner(new_secret())
    event = incoming_call_event("rtc_1", extra_headers=[("X-Tenant", "acme")])
    async with webhook_receiver(signer) as (url, received):
        with trio.fail_after(5):
            response = await place_call(url, signer, event, platform=platform, webhook_id="wh_7")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "webhook_id": "wh_7"}
    assert received == ["rtc_1"]
    await client.realtime.calls.accept("rtc_1", type="realtime")
    assert platform.call("rtc_1").state == "accepted"


def test_incoming_call_event_is_what_the_sdk_parses() -> None:
    """The event has OpenAI's shape: the SDK unwraps it into a RealtimeCallIncomingWebhookEvent."""
    signer = WebhookSigner(new_secret())
    event = incoming_call_event(
        "rtc_9", to="sip:+15550001111@example.com", extra_headers=[("X-A", "b")]
    )
    body = json.dumps(event).encode()
    headers = signer.sign(body, webhook_id="wh_1", timestamp=int(time.time()))
    parsed = openai.OpenAI(api_key="unused").webhooks.unwrap(body, headers, secret=signer.secret)
    assert type(parsed).__name__ == "RealtimeCallIncomingWebhookEvent"
    assert parsed.data.call_id == "rtc_9"
    assert [h.name for h in parsed.data.sip_headers] == ["From", "To", "Call-ID", "X-A"]
    assert parsed.data.sip_headers[1].value == "sip:+15550001111@example.com"
    assert event["id"].startswith("evt_")
    assert event["object"] == "event"
    assert event["data"]["sip_media_security"] == "srtp"
    assert "sip_media_security" not in incoming_call_event("rtc_9", media_security=None)["data"]


# -- lifecycle -----------------------------------------------------------------------------


async def test_open_platform_serves_then_stops(mock_clock: MockClock) -> None:
    """open_platform yields a served platform and leaves nothing listening behind."""
    async with open_platform(api_key="sk-fixed") as platform:
        urls = PlatformUrls(base_url=platform.base_url, realtime_url=platform.realtime_url)
        assert urls.base_url.startswith("http://127.0.0.1:")
        assert urls.base_url.endswith("/v1")
        assert urls.realtime_url.startswith("ws://127.0.0.1:")
        platform.expect_call("rtc_1")
        async with openai.AsyncOpenAI(
            api_key="sk-fixed", base_url=urls.base_url, max_retries=0
        ) as c:
            await c.realtime.calls.accept("rtc_1", type="realtime")
            async with sideband(platform, "rtc_1") as ws:
                await receive(ws)
    with pytest.raises(RuntimeError, match="not serving"):
        _ = platform.base_url
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.post(f"{urls.base_url}/realtime/calls/rtc_1/hangup")


async def test_a_client_ping_after_the_platform_closed_ends_only_that_connection(
    mock_clock: MockClock, platform: SimulatedPlatform, client: openai.AsyncOpenAI
) -> None:
    """The caller hangs up, the client pings before closing back (as websockets clients do): the platform serves on."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import CloseConnection, Request, TextMessage

    await accepted_call(platform, client, "rtc_ping")
    url = urlsplit(platform.realtime_url)
    assert url.hostname is not None
    assert url.port is not None
    stream = await trio.open_tcp_stream(url.hostname, url.port)
    ws = WSConnection(ConnectionType.CLIENT)
    token = f"Bearer {platform.api_key}".encode()
    with trio.fail_after(10):
        await stream.send_all(
            ws.send(Request(host=url.netloc, target=f"{url.path}?call_id=rtc_ping", extra_headers=[(b"authorization", token)]))
        )
        closing = trio.Event()

        async def read() -> None:
            while not closing.is_set():
                ws.receive_data(await stream.receive_some())
                for event in ws.events():
                    if isinstance(event, TextMessage):  # session.created: the connection is attached
                        platform.start_soon(platform.call("rtc_ping").caller_hangup, name="hangup")
                    elif isinstance(event, CloseConnection):
                        closing.set()

        await read()
        # A masked, empty ping after the server's close frame, then our close.
        await stream.send_all(b"\x89\x80\x00\x00\x00\x00" + b"\x88\x82\x00\x00\x00\x00\x03\xe8")
        await platform.wait_sidebands_closed()
    await stream.aclose()
    # The platform still serves: another call's sideband comes up.
    await accepted_call(platform, client, "rtc_after_ping")
    assert await handshake(platform, "rtc_after_ping") == 101
