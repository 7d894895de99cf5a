"""One GPT-Live session on the simulated platform, and its sideband's server side (private; see supervisor.testing).

A :class:`SimulatedLiveSession` is what the platform knows of one ``live_...`` session: its
state (``incoming`` until accepted, ``accepted``, then ``ended``), the client events its
sideband received, and the live sideband connections a test drives through it.  The events it
sends are built by ``_live_shapes``; how it answers client events is ``_live_reactions``.

The REST half finds sessions through :func:`expect_live_session` / :func:`live_session` on the
platform state (``state.live_sessions``); its accept marks one accepted with
``expect_live_session(state, session_id)._accept(body)``.

Audio: the model's speech reaches the sideband as ``session.output_audio.delta`` frames of
``platform.audio_frame_ms`` (20 ms, the usual RTP packet time: RFC 3551 section 4.5), paced on
the trio clock, silence at 24 kHz PCM16; with ``platform.reflect_audio`` the caller's side is
reflected too, ``session.input_audio.append`` frames at the same pace for as long as a
connection lives.  Live has no event for the end of output audio: the last delta's ``end_ms``,
then quiet, is the end.
"""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trio
import trio_websocket

from . import _live_shapes as shapes
from ._peer import CLOSE_GRACE_S, SidebandPeer, _Connection
from ._shapes import new_id
from ._state import PlatformState

#: The ``reason`` values of ``session.closed`` (the SDK's ``SessionClosedEvent``).
CLOSE_REASONS = ("close_requested", "expired", "content", "remote_hangup", "connection_lost")


class SimulatedLiveSession(SidebandPeer):
    """One GPT-Live session on the simulated platform, and the server side of its sideband.

    Get it with ``platform.live_session(session_id)``.  The async methods send on every live
    sideband connection; when none is live yet they block until the client attaches, and they
    raise ``RuntimeError`` once the session has ended with nothing attached.  Wrap them in
    ``trio.fail_after`` in tests.
    """

    _NOUN = "live session"

    #: The appends after which the simulated model speaks (with ``platform.auto_audio``), when
    #: their ``delegation_id`` is null; a test may narrow it to measure a greeting's trigger.
    speaking_appends: frozenset[str] = frozenset(
        {"session.instructions.append", "session.commentary.append"}
    )

    def __init__(self, session_id: str, state: PlatformState[Any]) -> None:
        super().__init__(session_id, state)
        self.session_id = session_id
        #: The ``reason`` of the ``session.closed`` the platform sent, if it sent one.
        self.closed_reason: str | None = None
        #: Send ``session.started`` first on each attach (whether OpenAI does is not documented).
        self.started_on_attach = True
        #: The request target of every attach admitted (``/v1/live/sessions/ID/attach?...``).
        self.attach_paths: list[str] = []
        self._session: dict[str, Any] = shapes.session_resource(session_id, None)
        self._started_at = 0.0
        #: Function calls waiting for their output, by call_id: (delegation_id, output or None).
        self._calls: dict[str, tuple[str, str | None]] = {}
        self._new_items = 0
        self._fixture_playing = False
        self._speech = trio.Lock()

    def __repr__(self) -> str:
        return f"<SimulatedLiveSession {self.session_id} {self.state} live={len(self._live)}>"

    @property
    def call_id(self) -> str:
        """The session id, under the name the shared sideband server reads."""
        return self.session_id

    # -- what the test reads --------------------------------------------------------------

    @property
    def session(self) -> dict[str, Any]:
        """The resolved session (``session.started`` / ``session.updated`` carry it)."""
        return dict(self._session)

    @property
    def delegation_type(self) -> str:
        delegation = self._session.get("delegation")
        return str(delegation.get("type")) if isinstance(delegation, dict) else "client"

    async def wait_tool_output(self, call_id: str) -> dict[str, Any]:
        """Block until the client sends a ``function_call_output`` for ``call_id``.

        Returns the whole ``response.item.create`` event; the result is ``event["item"]["output"]``.
        """

        return await self._wait_function_output("response.item.create", call_id)

    # -- what the test makes the server do ------------------------------------------------

    async def send_error(self, *, code: str, message: str, param: str | None = None) -> None:
        """Send an ``error`` event shaped like the Live API's (``openai.types.live.ErrorEvent``)."""
        await self.send(shapes.error_event(code, message, param=param))

    async def function_call(self, name: str, arguments: str, *, call_id: str | None = None) -> str:
        """Have the Responses backend call function ``name``; returns its ``call_id``."""
        (call_id,) = await self.function_calls(
            [(name, arguments)], call_ids=[call_id] if call_id else None
        )
        return call_id

    async def function_calls(
        self, calls: list[tuple[str, str]], *, call_ids: list[str] | None = None
    ) -> list[str]:
        """One delegation whose backend response calls every ``(name, arguments)`` in parallel.

        Sends ``session.delegation.created``, then in ``response.event`` envelopes
        ``response.created``, each call's ``output_item.added``, ``function_call_arguments.delta``
        / ``.done`` and ``output_item.done``, and ``response.completed``.  The backend then waits
        for the client: one ``response.item.create`` (``function_call_output``) per call, then a
        ``response.create``, which the platform answers with the backend's reply (and, with
        ``auto_audio``, the model speaking it).  Requires a Responses delegation.
        """
        if self.delegation_type != "responses":
            raise RuntimeError(
                f"session {self.session_id} was not accepted with a Responses delegation"
            )
        ids = call_ids or [new_id("call") for _ in calls]
        delegation_id, response_id = new_id("del"), new_id("resp")
        nested: list[dict[str, Any]] = [
            shapes.snapshot("response.created", response_id, "in_progress", self._backend_model())
        ]
        for index, ((name, arguments), call_id) in enumerate(zip(calls, ids, strict=True)):
            nested += shapes.function_call_events(new_id("fc"), call_id, name, arguments, index)
            self._calls[call_id] = (delegation_id, None)
        nested.append(
            shapes.snapshot("response.completed", response_id, "completed", self._backend_model())
        )
        await self.send(shapes.delegation_created(delegation_id, response_id, self._now_ms()))
        for event in self._numbered(delegation_id, nested):
            await self.send(event)
        return ids

    async def play_audio(self, *, duration_s: float | None = None, text: str = "") -> None:
        """The model speaks for ``duration_s`` (default ``platform.audio_duration_s``; at least
        one frame): an output transcript delta, then reflected output audio frames, paced."""
        await self._speak(await self._live_connections(), text, duration_s)

    async def caller_hangup(self) -> None:
        """The caller hangs up: ``session.closed`` with ``remote_hangup``, then the close."""
        await self.close("remote_hangup", ended_by="caller_hangup")

    async def close(self, reason: str = "remote_hangup", *, ended_by: str = "closed") -> None:
        """End the session: ``session.closed`` with ``reason`` on every live connection, then
        close each, with a close handshake (1000) when it attached with ``graceful_close=true``,
        else by dropping TCP (the reference's inference for the default).  A new attach gets 404."""
        if reason not in CLOSE_REASONS:
            raise ValueError(
                f"unknown close reason {reason!r}; expected one of {', '.join(CLOSE_REASONS)}"
            )
        await self._close(reason, ended_by, None)

    async def _close(self, reason: str, ended_by: str, client_event_id: object) -> None:
        self._end(ended_by)
        self.closed_reason = reason
        elapsed_s = trio.current_time() - self._started_at
        event = shapes.session_closed(reason, self._session, elapsed_s, client_event_id)
        for conn in list(self._live):
            with trio.move_on_after(CLOSE_GRACE_S):
                with contextlib.suppress(trio_websocket.ConnectionClosed):
                    await conn.ws.send_message(json.dumps(event))
                if graceful(conn):
                    await conn.ws.aclose(1000, "session closed")
                else:
                    await conn.stream.aclose()
                await conn.done.wait()

    async def abort(self, *, end_call: bool = False, mid_frame: bool = False) -> None:
        """Drop every live connection's TCP stream, without ``session.closed`` or a close frame.

        By default the session lives on (the reference: a lost sideband does not end the call), so
        the client may attach again; ``end_call`` ends it too.  ``mid_frame``: drop halfway
        through a text frame (its header, announcing 64 KiB, and half its payload are written).
        """
        if end_call:
            self._end("caller_hangup")
        await self._drop_streams(mid_frame=mid_frame)

    # -- used by the platform and the reactions -------------------------------------------

    def _attach(self, conn: _Connection) -> None:
        super()._attach(conn)
        if self._state.on_live_attached is not None:
            self._state.on_live_attached(self)

    def _accept(self, body: dict[str, Any]) -> None:
        """What a successful REST accept does: the session starts, and attaches are admitted."""
        if self.state == "incoming":
            self.state = "accepted"
            self.accept_body = body
            self._session = shapes.session_resource(self.session_id, body)
            self._started_at = trio.current_time()
        self._changes.notify()

    def _now_ms(self) -> int:
        return int((trio.current_time() - self._started_at) * 1000)

    def _backend_model(self) -> str:
        delegation = self._session.get("delegation") or {}
        responses = delegation.get("responses") if isinstance(delegation, dict) else None
        return str(responses.get("model") or "gpt-5") if isinstance(responses, dict) else "gpt-5"

    def _numbered(
        self, delegation_id: str | None, nested: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """``nested`` in envelopes, with the ``sequence_number`` each Responses stream event carries."""
        return [
            shapes.wrapped(delegation_id, {**event, "sequence_number": n})
            for n, event in enumerate(nested)
        ]

    async def _speak(self, conns: list[_Connection], text: str, duration_s: float | None) -> None:
        """The model speaks on ``conns``: a transcript delta, then paced output audio frames."""
        if duration_s is None:
            duration_s = self._state.audio_duration_s
        frame_ms = self._state.audio_frame_ms
        frames = max(1, math.ceil(duration_s * 1000 / frame_ms))
        async with self._speech:
            start_ms, began = self._now_ms(), trio.current_time()
            await _send_all(conns, shapes.transcript(text, start_ms, start_ms + frames * frame_ms))
            for n in range(frames):
                frame_start = start_ms + n * frame_ms
                await _send_all(conns, shapes.output_audio(frame_start, frame_start + frame_ms))
                await trio.sleep_until(began + (n + 1) * frame_ms / 1000)

    async def _reflect_input(self, conn: _Connection) -> None:
        """``platform.reflect_audio``: the caller's audio, one frame per ``audio_frame_ms``, until closed."""
        frame_ms = self._state.audio_frame_ms
        frame = json.dumps(shapes.input_audio(frame_ms))
        began = trio.current_time()
        with contextlib.suppress(trio_websocket.ConnectionClosed):
            for n in range(1, 2**62):
                await conn.ws.send_message(frame)
                await trio.sleep_until(began + n * frame_ms / 1000)

def graceful(conn: _Connection) -> bool:
    """Whether the connection attached with ``?graceful_close=true``."""
    values = parse_qs(urlsplit(str(conn.ws.path)).query).get("graceful_close", [])
    return bool(values) and values[-1].lower() == "true"


async def _send_all(conns: list[_Connection], event: dict[str, Any]) -> None:
    message = json.dumps(event)
    for conn in conns:
        await conn.ws.send_message(message)


def live_session(state: PlatformState[Any], session_id: str) -> SimulatedLiveSession | None:
    """The session ``session_id`` if the platform knows it (typed: ``state.live_sessions`` is not)."""
    session = state.live_sessions.get(session_id)
    return session if isinstance(session, SimulatedLiveSession) else None


def expect_live_session(state: PlatformState[Any], session_id: str) -> SimulatedLiveSession:
    """The session ``session_id``, made known (as its ``live.transport.incoming`` webhook would) if it was not."""
    session = live_session(state, session_id)
    if session is None:
        session = state.live_sessions[session_id] = SimulatedLiveSession(session_id, state)
        state.changes.notify()
    return session
