"""The GPT-Live attach endpoint of the simulated sideband server (private; see supervisor.testing).

``wss://.../v1/live/sessions/{session_id}/attach`` is served by the same listener as the
Realtime sideband (``_sideband``): OpenAI serves both from ``api.openai.com``, so one port
keeps TLS, the handshake records and the scripted ``connect`` misbehaviour (``fail_connect``,
``stall_handshake``, ``silent_after_handshake``, matched on the session id) shared, and the
Realtime server only asks :func:`is_live_path` which of the two a handshake is for.

Admission: ``Authorization: Bearer {api_key}`` (else 401); a path of any other shape, or a
session the platform does not know or that is not accepted (or has ended), gets 404 (what
OpenAI answers is not documented; the reference expects a 4xx).  Then :func:`converse_live`:
``session.started`` (unless the session's ``started_on_attach`` is off; whether OpenAI sends
it after a SIP accept is not documented), reflected caller audio with ``platform.reflect_audio``,
and an answer to each client event (``_live_reactions``).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import trio_websocket

from . import _live_shapes as shapes
from ._live_reactions import react
from ._live_session import SimulatedLiveSession, live_session
from ._peer import _Connection, admit
from ._state import PlatformState

#: Where the attach endpoint lives; ``{OPENAI_LIVE_URL}`` is ``.../v1/live``.
LIVE_PREFIX = "/v1/live/"
_ATTACH = re.compile(r"/v1/live/sessions/(?P<session_id>[^/]+)/attach")


def is_live_path(path: str) -> bool:
    """Whether a handshake's request target is for the Live surface (``/v1/live/...``)."""
    return urlsplit(path).path.startswith(LIVE_PREFIX)


async def admit_live(
    state: PlatformState[Any], request: trio_websocket.WebSocketRequest, tls_resumed: bool | None
) -> SimulatedLiveSession | None:
    """The session this attach may join; otherwise reject the handshake and return None."""
    match = _ATTACH.fullmatch(urlsplit(request.path).path)
    session_id = match["session_id"] if match else None
    session = live_session(state, session_id) if session_id else None
    admitted = await admit(state, request, session_id, session, unknown="session_not_found", tls_resumed=tls_resumed)
    if admitted is not None:
        admitted.attach_paths.append(request.path)
    return admitted


async def converse_live(session: SimulatedLiveSession, conn: _Connection) -> None:
    """Until the connection closes: ``session.started`` first, then answer client events."""
    if session.started_on_attach:
        # Sent before the connection is attached, so a test's session.send() always comes after it.
        started = shapes.session_event("session.started", session.session)
        await conn.ws.send_message(json.dumps(started))
    session._attach(conn)
    if session._state.reflect_audio:
        conn.nursery.start_soon(
            session._reflect_input, conn, name=f"live:{session.session_id}:reflect"
        )
    while True:
        await session._may_read()
        message = await conn.ws.get_message()
        try:
            event = json.loads(message)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            error = shapes.error_event("invalid_json", "Client event is not a JSON object.")
            await conn.ws.send_message(json.dumps(error))
            continue
        session._record(event)
        await react(session, conn, event)
