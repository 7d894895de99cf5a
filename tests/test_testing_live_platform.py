"""The simulated platform's GPT-Live sideband, driven by a trio-websocket client of the test's own.

Every event the platform sends is parsed with the openai SDK's own Live types
(``openai.types.live.ConnectServerEvent``, and ``ResponseStreamEvent`` for what a
``response.event`` wraps), with no field the SDK does not know.
"""

from __future__ import annotations

import base64
import itertools
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import pydantic
import pytest
import trio
from openai.types.live import ConnectServerEvent
from openai.types.responses import ResponseStreamEvent
from trio.testing import MockClock
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    wrap_client_stream,
)

from supervisor.testing import (
    FRAME_CONTINUATION,
    FRAME_TEXT,
    SimulatedLiveSession,
    SimulatedPlatform,
    serve_platform,
)

SERVER_EVENT = pydantic.TypeAdapter(ConnectServerEvent)
NESTED_EVENT = pydantic.TypeAdapter(ResponseStreamEvent)
#: The accept body of a session whose tools run through a Responses delegation.
RESPONSES_ACCEPT = {
    "session": {
        "type": "live",
        "model": "gpt-live-1",
        "instructions": "Be brief.",
        "audio": {"output": {"voice": "marin"}},
        "delegation": {
            "type": "responses",
            "responses": {
                "model": "gpt-5-mini",
                "tools": [
                    {
                        "type": "function",
                        "name": "end_call",
                        "parameters": {"type": "object", "properties": {}},
                    }
                ],
            },
        },
    }
}
CLIENT_ACCEPT = {
    "session": {"type": "live", "model": "gpt-live-1", "delegation": {"type": "client"}}
}


def unknown_fields(model: pydantic.BaseModel, where: str) -> list[str]:
    """Every field of ``model`` (and the models inside it) that the SDK's type does not declare."""
    found = [f"{where}.{name}" for name in model.model_extra or {}]
    for name in type(model).model_fields:
        value = getattr(model, name)
        for inner in value if isinstance(value, list) else [value]:
            if isinstance(inner, pydantic.BaseModel):
                found += unknown_fields(inner, f"{where}.{name}")
    return found


def checked(event: dict[str, Any]) -> dict[str, Any]:
    """``event``, after the SDK parsed it as a Live server event with nothing left over."""
    model = SERVER_EVENT.validate_python(event)
    assert model.type == event["type"]
    assert unknown_fields(model, event["type"]) == []
    if event["type"] == "response.event":
        nested = NESTED_EVENT.validate_python(event["event"])
        assert unknown_fields(nested, event["event"]["type"]) == []
    return event


async def receive(ws: WebSocketConnection) -> dict[str, Any]:
    """The next server event, checked against the SDK's Live server events."""
    event: dict[str, Any] = json.loads(await ws.get_message())
    return checked(event)


async def receive_until(ws: WebSocketConnection, event_type: str) -> list[dict[str, Any]]:
    """Server events up to and including the first ``event_type``, each checked."""
    events = [await receive(ws)]
    while events[-1]["type"] != event_type:
        events.append(await receive(ws))
    return events


@asynccontextmanager
async def attach(
    platform: SimulatedPlatform,
    session_id: str,
    *,
    api_key: str | None = None,
    query: str = "",
    path: str | None = None,
) -> AsyncIterator[WebSocketConnection]:
    """A trio-websocket client attached to ``session_id``'s Live sideband, over a TCP (and, when
    the platform has TLS, TLS) stream the test owns and closes."""
    url = urlsplit(platform.live_url)
    assert url.hostname is not None
    assert url.port is not None
    target = path or f"{url.path}/sessions/{session_id}/attach{query}"
    token = f"Bearer {api_key or platform.api_key}".encode()
    tcp = await trio.open_tcp_stream(url.hostname, url.port)
    stream: trio.abc.Stream = tcp
    if platform.tls is not None:
        context = ssl.create_default_context(cadata=platform.tls.ca_pem.decode())
        stream = trio.SSLStream(tcp, context, server_hostname=url.hostname)
    try:
        async with trio.open_nursery() as nursery:
            ws = await wrap_client_stream(
                nursery, stream, url.netloc, target, extra_headers=[(b"Authorization", token)]
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
        await trio.aclose_forcefully(tcp)


async def rejection(
    platform: SimulatedPlatform, session_id: str, **kwargs: Any
) -> ConnectionRejected | None:
    try:
        async with attach(platform, session_id, **kwargs):
            return None
    except ConnectionRejected as rejected:
        return rejected


def accepted(
    platform: SimulatedPlatform, session_id: str, body: dict[str, Any] = RESPONSES_ACCEPT
) -> SimulatedLiveSession:
    return platform.expect_live_session(session_id, accepted=body)


# -- attach --------------------------------------------------------------------------------


async def test_attach_needs_the_key_and_an_accepted_session(
    mock_clock: MockClock, platform: SimulatedPlatform
) -> None:
    """Unknown, unaccepted and scripted sessions get 404, a wrong key 401; then session.started."""
    platform.expect_live_session("live_1")
    unaccepted = await rejection(platform, "live_1")
    assert unaccepted is not None
    assert unaccepted.status_code == 404
    assert json.loads(unaccepted.body or b"")["error"]["code"] == "session_not_found"
    accepted(platform, "live_1")
    platform.fail_connect(call_id="live_1")
    statuses = [
        (await rejection(platform, "live_1")),
        (await rejection(platform, "live_1", api_key="sk-wrong")),
        (await rejection(platform, "live_9")),
        (await rejection(platform, "live_1", path="/v1/live/sessions/live_1/watch")),
    ]
    async with attach(platform, "live_1", query="?graceful_close=true") as ws:
        started = await receive(ws)
        assert platform.open_sidebands() == 1
    assert [r.status_code if r else 101 for r in statuses] == [404, 401, 404, 404]
    assert started["type"] == "session.started"
    assert started["session"]["id"] == "live_1"
    assert started["session"]["instructions"] == "Be brief."
    assert started["session"]["delegation"]["responses"]["model"] == "gpt-5-mini"
    assert [(h.call_id, h.status) for h in platform.handshakes] == [
        ("live_1", 404),
        ("live_1", 404),
        ("live_1", 401),
        ("live_9", 404),
        (None, 404),
        ("live_1", 101),
    ]
    assert platform.live_session("live_1").attach_paths == [
        "/v1/live/sessions/live_1/attach?graceful_close=true"
    ]


async def test_on_live_attached_sees_each_attach_after_session_started(
    mock_clock: MockClock, platform: SimulatedPlatform
) -> None:
    """The on_live_attached hook is given the session once per attach, after session.started was sent."""
    session = accepted(platform, "live_hook")
    seen: list[tuple[str, int]] = []
    platform.on_live_attached(lambda s: seen.append((s.session_id, s.live_connections)))
    with trio.fail_after(5):
        for _ in range(2):
            async with attach(platform, "live_hook") as ws:
                assert (await receive(ws))["type"] == "session.started"
                await session.send({"type": "session.output_transcript.delta", "delta": "hi"})
                await ws.get_message()
    assert seen == [("live_hook", 1), ("live_hook", 1)]


async def test_realtime_and_live_share_the_listener(
    mock_clock: MockClock, platform: SimulatedPlatform
) -> None:
    """The Live URL is the Realtime sideband's port under /v1/live; a Realtime call_id is no Live session."""
    assert urlsplit(platform.live_url).netloc == urlsplit(platform.realtime_url).netloc
    assert platform.live_url.endswith("/v1/live")
    platform.expect_call("rtc_1")
    rejected = await rejection(platform, "rtc_1")
    assert rejected is not None
    assert rejected.status_code == 404


async def test_without_session_started_the_first_event_is_the_first_answer(
    mock_clock: MockClock, platform: SimulatedPlatform
) -> None:
    """started_on_attach off: nothing comes until the client asks (OpenAI does not document a first event)."""
    session = accepted(platform, "live_1")
    session.started_on_attach = False
    async with attach(platform, "live_1") as ws:
        await ws.send_message(json.dumps({"type": "session.input_audio.mute", "event_id": "evt_m"}))
        first = await receive(ws)
    assert (first["type"], first["client_event_id"]) == ("session.input_audio.muted", "evt_m")


# -- client events -------------------------------------------------------------------------


async def test_every_client_event_is_recorded_and_answered_in_the_sdk_shapes(
    mock_clock: MockClock, platform: SimulatedPlatform
) -> None:
    """Session updates, appends, mute, DTMF, a fixture and refusals: each answer parses as the SDK's type."""
    session = accepted(platform, "live_1")
    platform.audio_duration_s = 0.0
    fixture = base64.b64encode(bytes(48 * 40)).decode()  # 40 ms of PCM16 at 24 kHz
    sent = [
        {
            "type": "session.update",
            "event_id": "e1",
            "session": {
                "delegation": {"type": "responses", "responses": {"instructions": "Use tools."}}
            },
        },
        {"type": "session.update", "event_id": "e2", "session": {"instructions": "New."}},
        {"type": "session.update", "event_id": "e3", "session": {"delegation": {"type": "client"}}},
        {
            "type": "session.thinking.append",
            "event_id": "e4",
            "delegation_id": None,
            "content": "The caller is a VIP.",
        },
        {
            "type": "session.commentary.append",
            "event_id": "e5",
            "delegation_id": "del_x",
            "content": "Hi.",
        },
        {"type": "session.input_audio.mute", "event_id": "e6"},
        {"type": "session.input_audio.unmute", "event_id": "e7"},
        {"type": "transport.dtmf.send", "event_id": "e8", "event": "5"},
        {"type": "transport.dtmf.send", "event_id": "e9", "event": "55"},
        {"type": "session.start", "event_id": "e10"},
        {"type": "session.input_audio.append", "event_id": "e11", "audio": ""},
        {"type": "session.output_audio.fixture.play", "event_id": "e12", "audio": "not base64!"},
        {"type": "response.create", "event_id": "e13"},
        {"type": "session.teleport", "event_id": "e14"},
    ]
    async with attach(platform, "live_1") as ws:
        await receive(ws)
        answers = []
        for event in sent:
            await ws.send_message(json.dumps(event))
            answers.append(await receive(ws))
        await ws.send_message("not json")
        not_json = await receive(ws)
        await ws.send_message(
            json.dumps(
                {"type": "session.output_audio.fixture.play", "event_id": "e15", "audio": fixture}
            )
        )
        fixture_events = await receive_until(ws, "session.output_audio.fixture.played")
        with trio.fail_after(5):
            last = await session.wait_for_client_event("session.output_audio.fixture.play", nth=2)
    assert [(a["type"], a["client_event_id"]) for a in answers] == [
        ("session.updated", "e1"),
        ("error", "e2"),
        ("error", "e3"),
        ("session.thinking.appended", "e4"),
        ("error", "e5"),
        ("session.input_audio.muted", "e6"),
        ("session.input_audio.unmuted", "e7"),
        ("transport.dtmf.sent", "e8"),
        ("error", "e9"),
        ("error", "e10"),
        ("error", "e11"),
        ("error", "e12"),
        ("error", "e13"),
        ("error", "e14"),
    ]
    errors = {
        a["client_event_id"]: (a["error"]["code"], a["error"].get("param"))
        for a in answers
        if a["type"] == "error"
    }
    assert errors == {
        "e2": ("unknown_parameter", "session.instructions"),
        "e3": ("invalid_value", "session.delegation.type"),
        "e5": ("invalid_value", "delegation_id"),
        "e9": ("invalid_value", "event"),
        "e10": ("invalid_event_for_transport", "type"),
        "e11": ("invalid_event_for_transport", "type"),
        "e12": ("invalid_audio", "audio"),
        "e13": ("no_new_items", None),
        "e14": ("unknown_event_type", "type"),
    }
    assert answers[0]["session"]["delegation"]["responses"] == {
        "model": "gpt-5-mini",
        "instructions": "Use tools.",
        "tools": RESPONSES_ACCEPT["session"]["delegation"]["responses"]["tools"],
    }
    assert answers[7]["event"] == "5"
    assert not_json["error"]["code"] == "invalid_json"
    assert [e["type"] for e in fixture_events] == [
        "session.output_audio.fixture.playing",
        "session.output_transcript.delta",
        "session.output_audio.delta",
        "session.output_audio.delta",
        "session.output_audio.fixture.played",
    ]
    assert last["event_id"] == "e15"
    assert [e.get("event_id") for e in session.client_events] == [
        f"e{n}" for n in range(1, 16)
    ]  # not JSON: answered, not recorded


async def test_a_greeting_append_makes_the_model_speak(
    mock_clock: MockClock, platform: SimulatedPlatform
) -> None:
    """commentary/instructions appends with a null delegation_id are acknowledged, then spoken (auto_audio)."""
    accepted(platform, "live_1", CLIENT_ACCEPT)
    platform.audio_duration_s = 0.1
    greeting = {
        "type": "session.commentary.append",
        "event_id": "g1",
        "delegation_id": None,
        "content": "Greet the caller.",
    }
    async with attach(platform, "live_1") as ws:
        await receive(ws)
        await ws.send_message(json.dumps(greeting))
        events = [await receive(ws) for _ in range(7)]
    assert [e["type"] for e in events] == [
        "session.commentary.appended",
        "session.output_transcript.delta",
        *["session.output_audio.delta"] * 5,
    ]
    audio = events[2:]
    assert [(a["start_ms"], a["end_ms"]) for a in audio] == [
        (audio[0]["start_ms"] + 20 * n, audio[0]["start_ms"] + 20 * (n + 1)) for n in range(5)
    ]


# -- tools ---------------------------------------------------------------------------------


async def test_function_call_round_trip(mock_clock: MockClock, platform: SimulatedPlatform) -> None:
    """A function call comes nested in response.event; its output and one response.create get the backend's reply."""
    session = accepted(platform, "live_1")
    platform.auto_audio = False
    async with attach(platform, "live_1") as ws:
        await receive(ws)
        with trio.fail_after(5):
            call_id = await session.function_call("end_call", '{"reason": "done"}')
        delegated = await receive_until(ws, "response.event")
        nested = [delegated[-1]] + [await receive(ws) for _ in range(5)]
        await ws.send_message(
            json.dumps(
                {
                    "type": "response.item.create",
                    "event_id": "o0",
                    "item": {
                        "type": "function_call_output",
                        "call_id": "call_nope",
                        "output": "{}",
                    },
                }
            )
        )
        unknown = await receive(ws)
        output = {"type": "function_call_output", "call_id": call_id, "output": '{"ok": true}'}
        await ws.send_message(
            json.dumps({"type": "response.item.create", "event_id": "o1", "item": output})
        )
        await ws.send_message(json.dumps({"type": "response.create", "event_id": "r1"}))
        reply = [await receive(ws) for _ in range(5)]
        with trio.fail_after(5):
            result = await session.wait_tool_output(call_id)
        await ws.send_message(json.dumps({"type": "response.create", "event_id": "r2"}))
        again = await receive(ws)
    assert delegated[0]["type"] == "session.delegation.created"
    delegation_id = delegated[0]["delegation"]["id"]
    assert delegated[0]["delegation"]["target"] == "responses"
    assert {e["delegation_id"] for e in nested + reply} == {delegation_id}
    assert [e["event"]["type"] for e in nested] == [
        "response.created",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["event"]["sequence_number"] for e in nested] == list(range(6))
    done = nested[4]["event"]["item"]
    assert (done["type"], done["call_id"], done["name"], done["arguments"]) == (
        "function_call",
        call_id,
        "end_call",
        '{"reason": "done"}',
    )
    assert (
        nested[5]["event"]["response"]["output"] == []
    )  # a lifecycle snapshot: calls are read from the items
    assert (unknown["type"], unknown["error"]["param"]) == ("error", "item.call_id")
    assert [e["event"]["type"] for e in reply] == [
        "response.created",
        "response.output_item.added",
        "response.output_text.delta",
        "response.output_item.done",
        "response.completed",
    ]
    assert result["item"]["output"] == '{"ok": true}'
    assert (again["type"], again["error"]["code"]) == ("error", "no_new_items")


async def test_a_function_call_needs_a_responses_delegation(
    mock_clock: MockClock, platform: SimulatedPlatform
) -> None:
    """Under client delegation the platform refuses to script a function call, and response.create is an error."""
    session = accepted(platform, "live_1", CLIENT_ACCEPT)
    with pytest.raises(RuntimeError, match="Responses delegation"):
        await session.function_call("end_call", "{}")
    async with attach(platform, "live_1") as ws:
        await receive(ws)
        await ws.send_message(json.dumps({"type": "response.create"}))
        error = await receive(ws)
    assert error["error"]["code"] == "invalid_request"


# -- audio ---------------------------------------------------------------------------------


async def test_reflected_audio_comes_at_the_frame_rate(
    mock_clock: MockClock, platform: SimulatedPlatform
) -> None:
    """reflect_audio: caller frames of 20 ms (960 bytes PCM16) every 20 ms; play_audio: output frames with contiguous ms."""
    session = accepted(platform, "live_1")
    platform.reflect_audio = True
    async with attach(platform, "live_1") as ws:
        await receive(ws)
        arrivals = []
        for _ in range(8):
            frame = await receive(ws)
            arrivals.append((trio.current_time(), frame))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(session.play_audio, duration_s=0.1))
            output = []
            while len(output) < 5:
                event = await receive(ws)
                if event["type"] == "session.output_audio.delta":
                    output.append((trio.current_time(), event))
    gaps = [round(b[0] - a[0], 6) for a, b in itertools.pairwise(arrivals)]
    assert gaps == [0.02] * 7
    assert {f["type"] for _, f in arrivals} == {"session.input_audio.append"}
    assert {len(base64.b64decode(f["audio"])) for _, f in arrivals} == {960}
    spans = [(e["start_ms"], e["end_ms"]) for _, e in output]
    assert [end - start for start, end in spans] == [20] * 5
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    assert [round(b[0] - a[0], 6) for a, b in itertools.pairwise(output)] == [0.02] * 4


# -- the end -------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "code"), [("?graceful_close=true", 1000), ("", 1006)])
async def test_close_sends_session_closed_with_its_reason(
    mock_clock: MockClock, platform: SimulatedPlatform, query: str, code: int
) -> None:
    """close(reason): session.closed with the reason and usage, then a close handshake (graceful_close) or a drop."""
    session = accepted(platform, "live_1")
    async with attach(platform, "live_1", query=query) as ws:
        await receive(ws)
        await trio.sleep(3)
        with trio.fail_after(10):
            await session.close("expired")
        closed = await receive(ws)
        with pytest.raises(ConnectionClosed) as after:
            await ws.get_message()
    assert (closed["type"], closed["reason"]) == ("session.closed", "expired")
    assert closed["usage"]["seconds"] == 3
    assert closed["session"]["status"] == "active"
    assert after.value.reason.code == code
    assert (session.state, session.ended_by, session.closed_reason) == (
        "ended",
        "closed",
        "expired",
    )
    rejected = await rejection(platform, "live_1")
    assert rejected is not None
    assert rejected.status_code == 404


async def test_session_close_from_the_client_is_close_requested(
    mock_clock: MockClock, platform: SimulatedPlatform
) -> None:
    """The client's session.close is answered by session.closed (close_requested, echoing its event_id)."""
    session = accepted(platform, "live_1")
    async with attach(platform, "live_1", query="?graceful_close=true") as ws:
        await receive(ws)
        await ws.send_message(json.dumps({"type": "session.close", "event_id": "c1"}))
        closed = await receive(ws)
        with pytest.raises(ConnectionClosed):
            await ws.get_message()
    assert (closed["reason"], closed["client_event_id"]) == ("close_requested", "c1")
    assert session.ended_by == "session_close"


async def test_abort_drops_tcp_without_session_closed(
    mock_clock: MockClock, platform: SimulatedPlatform
) -> None:
    """abort(): no session.closed, an abnormal closure (1006), and the session can be attached again."""
    session = accepted(platform, "live_1")
    async with attach(platform, "live_1") as ws:
        await receive(ws)
        with trio.fail_after(10):
            await session.abort()
        with pytest.raises(ConnectionClosed) as dropped:
            await ws.get_message()
    assert dropped.value.reason.code == 1006
    assert session.state == "accepted"
    async with attach(platform, "live_1") as again:
        assert (await receive(again))["type"] == "session.started"


async def test_hostile_frames_and_errors_reach_the_client(
    mock_clock: MockClock, platform: SimulatedPlatform
) -> None:
    """send_text sends anything, send_error an SDK-shaped error, send_frame a hand-written frame."""
    session = accepted(platform, "live_1")
    async with attach(platform, "live_1") as ws:
        await receive(ws)
        with trio.fail_after(10):
            await session.send_text("{not json")
            await session.send_text(b"\x00\x01")
            await session.send_error(code="insufficient_quota", message="Out of credit.")
            raw = await ws.get_message()
            binary = await ws.get_message()
            error = await receive(ws)
            # Written under the websocket, in two frames (a text frame and its continuation).
            info = b'{"type": "info", "event_id": "event_1", "code": "c", "message": "m"}'
            await session.send_frame(FRAME_TEXT, info[:10], fin=False)
            await session.send_frame(FRAME_CONTINUATION, info[10:])
            by_hand = await receive(ws)
    assert (raw, binary) == ("{not json", b"\x00\x01")
    assert error["error"]["code"] == "insufficient_quota"
    assert by_hand["type"] == "info"


# -- TLS -----------------------------------------------------------------------------------


async def test_attach_function_call_and_close_over_tls(
    mock_clock: MockClock, nursery: trio.Nursery
) -> None:
    """SimulatedPlatform(tls=True): wss attach under the test CA, a tool round trip, session.closed."""
    platform = SimulatedPlatform(tls=True)
    await nursery.start(serve_platform, platform)
    platform.auto_audio = False
    assert platform.live_url.startswith("wss://")
    session = accepted(platform, "live_1")
    async with attach(platform, "live_1", query="?graceful_close=true") as ws:
        started = await receive(ws)
        with trio.fail_after(10):
            call_id = await session.function_call("transfer_call", '{"to": "sales"}')
            await receive_until(ws, "session.delegation.created")
            events = [await receive(ws) for _ in range(6)]
            output = {"type": "function_call_output", "call_id": call_id, "output": "{}"}
            await ws.send_message(json.dumps({"type": "response.item.create", "item": output}))
            await ws.send_message(json.dumps({"type": "response.create"}))
            reply = [await receive(ws) for _ in range(5)]
            await session.caller_hangup()
        closed = await receive(ws)
    assert started["type"] == "session.started"
    assert events[-1]["event"]["type"] == "response.completed"
    assert reply[-1]["event"]["type"] == "response.completed"
    assert (closed["type"], closed["reason"], session.ended_by) == (
        "session.closed",
        "remote_hangup",
        "caller_hangup",
    )
    assert platform.handshakes[-1].tls_resumed is False


# -- the REST surface drives the session -----------------------------------------------------


async def test_a_rest_accept_admits_the_attach_and_a_rest_hangup_closes_it(
    mock_clock: MockClock, platform: SimulatedPlatform
) -> None:
    """The SDK's Live accept makes the session attachable; its hangup sends session.closed
    (close_requested) on the attached sideband; a reject leaves nothing to attach to."""
    import openai

    session = {"type": "live", "model": "gpt-live-1"}
    platform.expect_call("live_rest_1", runtime="live")
    platform.expect_call("live_rest_2", runtime="live")
    async with openai.AsyncOpenAI(api_key=platform.api_key, base_url=platform.base_url, max_retries=0) as client:
        assert (await rejection(platform, "live_rest_1")) is not None  # not accepted yet: 404
        await client.live.sessions.accept("live_rest_1", session=session)  # type: ignore[arg-type]
        async with attach(platform, "live_rest_1") as ws:
            assert (await receive(ws))["type"] == "session.started"
            await client.live.sessions.hangup("live_rest_1")
            closed = (await receive_until(ws, "session.closed"))[-1]
            assert closed["reason"] == "close_requested"
        await client.live.sessions.reject("live_rest_2", status_code=486)
    assert (await rejection(platform, "live_rest_2")) is not None
    assert (await rejection(platform, "live_rest_1")) is not None  # ended
