"""What the simulated GPT-Live session does with each client event (private; see supervisor.testing).

One handler per client event of the openai SDK's ``ConnectClientEvent`` union (reference
section 3.3).  The rules OpenAI documents are kept: ``session.update`` changes only
``delegation`` (never its type) and ``triggers``; an append takes a ``delegation_id`` (null
under a Responses delegation) and is refused while an audio fixture plays; ``response.item.create``
and ``response.create`` need a Responses delegation; a fixture is raw PCM16 at 24 kHz, 30 s at
most.  Where OpenAI says nothing the platform chooses, and says so: an ``error`` for a
``response.create`` with no new item, for an output whose ``call_id`` no function call had,
for ``session.start`` / ``session.input_audio.append`` (media travels over SIP, not the
sideband) and for an unknown type; decision events are recorded and not answered.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio_websocket

from . import _live_shapes as shapes
from ._live_session import SimulatedLiveSession
from ._peer import _Connection
from ._shapes import new_id

Handler = Callable[[SimulatedLiveSession, _Connection, dict[str, Any]], Awaitable[None]]

#: Longest audio fixture OpenAI plays (``OutputAudioFixturePlayEvent``), in bytes of PCM16 at 24 kHz.
MAX_FIXTURE_BYTES = 30 * 1000 * shapes.PCM_BYTES_PER_MS
DTMF_KEYS = frozenset("0123456789ABCD*#")
#: What the simulated backend answers once a function call's output came back.
BACKEND_REPLY = "Done."


async def react(session: SimulatedLiveSession, conn: _Connection, event: dict[str, Any]) -> None:
    """Answer one client event on ``conn`` (recorded already)."""
    handler = HANDLERS.get(str(event.get("type")))
    try:
        if handler is None:
            raise _Refused(
                "unknown_event_type", f"Unknown client event type {event.get('type')!r}.", "type"
            )
        await handler(session, conn, event)
    except _Refused as refused:
        code, message, param = refused.args
        await _reply(
            conn,
            shapes.error_event(code, message, param=param, client_event_id=event.get("event_id")),
        )


class _Refused(Exception):
    """A client event the platform answers with an ``error``: (code, message, param)."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(code, message, param)


async def _reply(conn: _Connection, event: dict[str, Any]) -> None:
    await conn.ws.send_message(json.dumps(event))


async def _session_update(
    session: SimulatedLiveSession, conn: _Connection, event: dict[str, Any]
) -> None:
    update = event.get("session")
    if not isinstance(update, dict):
        raise _Refused(
            "missing_required_parameter", "Missing required parameter: 'session'.", "session"
        )
    for key in update:
        if key not in ("delegation", "triggers"):
            raise _Refused(
                "unknown_parameter", f"Unknown parameter: 'session.{key}'.", f"session.{key}"
            )
    delegation = update.get("delegation")
    current = session._session.get("delegation") or {"type": "client"}
    if isinstance(delegation, dict):
        if delegation.get("type", current.get("type")) != current.get("type"):
            raise _Refused(
                "invalid_value", "The delegation type cannot change.", "session.delegation.type"
            )
        merged = {**current, **{k: v for k, v in delegation.items() if k != "responses"}}
        if isinstance(delegation.get("responses"), dict):
            merged["responses"] = {**current.get("responses", {}), **delegation["responses"]}
        session._session["delegation"] = merged
    if "triggers" in update:
        session._session["triggers"] = update["triggers"]
    await _reply(
        conn, shapes.session_event("session.updated", session.session, event.get("event_id"))
    )


async def _append(session: SimulatedLiveSession, conn: _Connection, event: dict[str, Any]) -> None:
    kind = str(event["type"])
    if not isinstance(event.get("content"), str) or not event["content"]:
        raise _Refused(
            "missing_required_parameter", "Missing required parameter: 'content'.", "content"
        )
    if "delegation_id" not in event:
        raise _Refused(
            "missing_required_parameter",
            "Missing required parameter: 'delegation_id'.",
            "delegation_id",
        )
    if event["delegation_id"] is not None and session.delegation_type == "responses":
        raise _Refused(
            "invalid_value",
            "A Responses delegation takes no delegation_id on appends.",
            "delegation_id",
        )
    if session._fixture_playing:
        raise _Refused("fixture_active", "An audio fixture is playing.")
    now = session._now_ms()
    await _reply(
        conn,
        shapes.ack(
            kind.replace(".append", ".appended"), event.get("event_id"), start_ms=now, end_ms=now
        ),
    )
    if (
        session._state.auto_audio
        and kind in session.speaking_appends
        and event["delegation_id"] is None
    ):
        conn.nursery.start_soon(
            _speak_quietly, session, conn, "Hello.", name=f"live:{session.session_id}:speech"
        )


async def _speak_quietly(session: SimulatedLiveSession, conn: _Connection, text: str) -> None:
    """The model's answer to a client event, on that connection, ending quietly if it closes."""
    try:
        await session._speak([conn], text, None)
    except trio_websocket.ConnectionClosed:
        return


async def _mute(session: SimulatedLiveSession, conn: _Connection, event: dict[str, Any]) -> None:
    kind = (
        "session.input_audio.muted"
        if event["type"].endswith(".mute")
        else "session.input_audio.unmuted"
    )
    await _reply(conn, shapes.ack(kind, event.get("event_id")))


async def _fixture(session: SimulatedLiveSession, conn: _Connection, event: dict[str, Any]) -> None:
    try:
        pcm = base64.b64decode(str(event.get("audio")), validate=True)
    except (binascii.Error, ValueError):
        pcm = b""
    if not pcm or len(pcm) % 2 or len(pcm) > MAX_FIXTURE_BYTES:
        raise _Refused(
            "invalid_audio", "The fixture must be base64 PCM16 at 24 kHz, 30 s at most.", "audio"
        )
    if session._fixture_playing:
        raise _Refused("fixture_active", "An audio fixture is already playing.")
    session._fixture_playing = True
    await _reply(conn, shapes.ack("session.output_audio.fixture.playing", event.get("event_id")))
    conn.nursery.start_soon(_play_fixture, session, conn, event.get("event_id"), len(pcm) / 48_000)


async def _play_fixture(
    session: SimulatedLiveSession, conn: _Connection, client_event_id: object, seconds: float
) -> None:
    try:
        await session._speak([conn], "", seconds)
        await _reply(conn, shapes.ack("session.output_audio.fixture.played", client_event_id))
    except trio_websocket.ConnectionClosed:
        return
    finally:
        session._fixture_playing = False


async def _dtmf(session: SimulatedLiveSession, conn: _Connection, event: dict[str, Any]) -> None:
    key = event.get("event")
    if not isinstance(key, str) or key not in DTMF_KEYS:
        raise _Refused("invalid_value", "A DTMF key is one of 0-9, A-D, * or #.", "event")
    await _reply(conn, shapes.ack("transport.dtmf.sent", event.get("event_id"), event=key))


async def _item_create(
    session: SimulatedLiveSession, conn: _Connection, event: dict[str, Any]
) -> None:
    if session.delegation_type != "responses":
        raise _Refused("invalid_request", "response.item.create requires a Responses delegation.")
    item = event.get("item")
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        raise _Refused("missing_required_parameter", "Missing required parameter: 'item'.", "item")
    if item["type"] == "function_call_output":
        call_id = item.get("call_id")
        if not isinstance(call_id, str) or call_id not in session._calls:
            raise _Refused(
                "invalid_value", f"No function call has call_id {call_id!r}.", "item.call_id"
            )
        if not isinstance(item.get("output"), str):
            raise _Refused(
                "invalid_value", "A function_call_output needs an output.", "item.output"
            )
        session._calls[call_id] = (session._calls[call_id][0], item["output"])
    session._new_items += 1


async def _response_create(
    session: SimulatedLiveSession, conn: _Connection, event: dict[str, Any]
) -> None:
    if session.delegation_type != "responses":
        raise _Refused("invalid_request", "response.create requires a Responses delegation.")
    if session._new_items == 0:
        raise _Refused("no_new_items", "No item was created since the last response.")
    answered = [call_id for call_id, (_, output) in session._calls.items() if output is not None]
    delegation_id = session._calls[answered[-1]][0] if answered else None
    for call_id in answered:
        del session._calls[call_id]
    session._new_items = 0
    response_id = new_id("resp")
    model = session._backend_model()
    nested = [
        shapes.snapshot("response.created", response_id, "in_progress", model),
        *shapes.message_events(new_id("msg"), BACKEND_REPLY),
        shapes.snapshot("response.completed", response_id, "completed", model),
    ]
    for wrapped in session._numbered(delegation_id, nested):
        await _reply(conn, wrapped)
    if session._state.auto_audio:
        conn.nursery.start_soon(
            _speak_quietly, session, conn, BACKEND_REPLY, name=f"live:{session.session_id}:speech"
        )


async def _session_close(
    session: SimulatedLiveSession, conn: _Connection, event: dict[str, Any]
) -> None:
    # In the platform's nursery: the close waits for this very connection to finish.
    session._state.spawn(
        partial(session._close, "close_requested", "session_close", event.get("event_id")),
        name=f"live:{session.session_id}:close",
    )


async def _media_refused(
    session: SimulatedLiveSession, conn: _Connection, event: dict[str, Any]
) -> None:
    raise _Refused(
        "invalid_event_for_transport",
        f"{event['type']} is not accepted on a SIP session's sideband.",
        "type",
    )


async def _record_only(
    session: SimulatedLiveSession, conn: _Connection, event: dict[str, Any]
) -> None:
    return None


HANDLERS: dict[str, Handler] = {
    "session.update": _session_update,
    "session.instructions.append": _append,
    "session.commentary.append": _append,
    "session.thinking.append": _append,
    "session.input_audio.mute": _mute,
    "session.input_audio.unmute": _mute,
    "session.output_audio.fixture.play": _fixture,
    "transport.dtmf.send": _dtmf,
    "response.item.create": _item_create,
    "response.create": _response_create,
    "session.close": _session_close,
    "session.start": _media_refused,
    "session.input_audio.append": _media_refused,
    "decision.create": _record_only,
    "decision.item.create": _record_only,
    "decision.item.delete": _record_only,
}
