"""What a Realtime call and a GPT-Live session share as the server side of a sideband (private).

:class:`SidebandPeer` holds the live connections (:class:`_Connection`) and the client events of one call or session:
what the test reads of them (``client_events``, ``wait_for_client_event``), what it sends
(``send``, ``send_text``, ``send_frame``), and how the sideband server attaches, detaches and
records.  :class:`~._call.SimulatedCall` and :class:`~._live_session.SimulatedLiveSession` add
their protocol's events on top.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any, TypeVar

import trio
import trio_websocket

from ._frames import FRAME_TEXT, encode_frame, write_raw

if TYPE_CHECKING:
    from ._state import PlatformState

P = TypeVar("P", bound="SidebandPeer")

#: How long the platform waits for a close handshake (or a dropped connection) to finish.
CLOSE_GRACE_S = 5.0


class _Connection:
    """One live sideband websocket and the TCP stream under it (under TLS too, for ``abort``)."""

    def __init__(
        self,
        ws: trio_websocket.WebSocketConnection,
        stream: trio.SocketStream,
        nursery: trio.Nursery,
    ) -> None:
        self.ws = ws
        self.stream = stream
        self.nursery = nursery
        self.done = trio.Event()


class SidebandPeer:
    """Connections and client events of one call (or session); a subclass names it."""

    #: What the ``RuntimeError`` of a send on an ended call calls it ("call", "live session").
    _NOUN = "call"

    def __init__(self, name: str, state: PlatformState[Any]) -> None:
        #: ``"incoming"``, ``"accepted"`` or ``"ended"``.
        self.state = "incoming"
        #: Why it ended (rejected, hangup, refer, gone, caller_hangup, closed, ...).
        self.ended_by: str | None = None
        #: The body of the accept that succeeded (the session the client asked for).
        self.accept_body: dict[str, Any] | None = None
        self._name = name
        self._state = state
        self._changes = state.changes
        self._events: list[dict[str, Any]] = []
        self._live: list[_Connection] = []
        #: Set while the server reads client messages; cleared by :meth:`stop_reading`.
        self._reading: trio.Event | None = None

    # -- what the test reads --------------------------------------------------------------

    @property
    def client_events(self) -> list[dict[str, Any]]:
        """Every JSON message the client sent on this sideband, in order."""
        return list(self._events)

    @property
    def live_connections(self) -> int:
        return len(self._live)

    def stop_reading(self) -> None:
        """The server stops reading client messages (a stuck far side): what the client sends
        piles up in the websocket's queue, then in the TCP buffers, until its sends block."""
        if self._reading is None:
            self._reading = trio.Event()

    def resume_reading(self) -> None:
        if self._reading is not None:
            self._reading.set()
            self._reading = None

    async def _may_read(self) -> None:
        """Before each client message the server reads: wait while reading is stopped."""
        if self._reading is not None:
            await self._reading.wait()

    async def wait_connected(self) -> None:
        """Block until a sideband connection is live (RuntimeError if it ended first)."""
        await self._live_connections()

    async def wait_for_client_event(self, event_type: str, *, nth: int = 1) -> dict[str, Any]:
        """Block until the client has sent ``nth`` events of ``event_type``; return that one."""

        def probe() -> dict[str, Any] | None:
            matches = [e for e in self._events if e.get("type") == event_type]
            return matches[nth - 1] if len(matches) >= nth else None

        return await self._changes.wait_for(probe)

    async def _wait_function_output(self, event_type: str, call_id: str) -> dict[str, Any]:
        """Until the client sends an ``event_type`` event carrying a ``function_call_output``
        item for ``call_id``; that whole event."""

        def probe() -> dict[str, Any] | None:
            for event in self._events:
                item = event.get("item")
                if (
                    event.get("type") == event_type
                    and isinstance(item, dict)
                    and item.get("type") == "function_call_output"
                    and item.get("call_id") == call_id
                ):
                    return event
            return None

        return await self._changes.wait_for(probe)

    # -- what the test makes the server do ------------------------------------------------

    async def send(self, event: dict[str, Any]) -> None:
        """Send ``event`` as-is (any type, known or not) on every live connection."""
        await self.send_text(json.dumps(event))

    async def send_text(self, message: str | bytes) -> None:
        """Send one frame exactly as given (text, or binary for bytes), JSON or not: hostile input."""
        for conn in await self._live_connections():
            await conn.ws.send_message(message)

    async def send_frame(self, opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0) -> None:
        """Write one frame by hand on every live connection, whatever RFC 6455 says of it.

        ``opcode`` may be a reserved one (3..7, 11..15), ``rsv`` sets the reserved bits, ``fin``
        False leaves a message unfinished.  The server's own websocket does not know it was sent.
        """
        data = encode_frame(opcode, payload, fin=fin, rsv=rsv)
        for conn in await self._live_connections():
            await write_raw(conn.ws, data)

    # -- used by the sideband server ------------------------------------------------------

    async def _drop_streams(self, *, mid_frame: bool) -> None:
        """Drop every live connection's TCP stream, without a close frame (``abort``'s part).

        ``mid_frame``: first write half of a text frame (its header, announcing 64 KiB, and
        half its payload), so the client is left mid-read.
        """
        for conn in list(self._live):
            if mid_frame:
                half = encode_frame(FRAME_TEXT, b"x" * 2**16)[: 2**15]
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await write_raw(conn.ws, half)
            await conn.stream.aclose()
            with trio.move_on_after(CLOSE_GRACE_S):
                await conn.done.wait()

    async def _live_connections(self) -> list[_Connection]:
        def probe() -> list[_Connection] | None:
            if self._live:
                return list(self._live)
            if self.state == "ended":
                raise RuntimeError(f"{self._NOUN} {self._name} has ended and no sideband is connected")
            return None

        return await self._changes.wait_for(probe)

    def _attach(self, conn: _Connection) -> None:
        self._live.append(conn)
        self._changes.notify()

    def _detach(self, conn: _Connection) -> None:
        self._live.remove(conn)
        self._changes.notify()

    def _record(self, event: dict[str, Any]) -> None:
        if self._state.record:
            self._events.append(event)
            self._changes.notify()

    def _end(self, by: str) -> None:
        if self.state != "ended":
            self.state = "ended"
            self.ended_by = by
            self._changes.notify()



async def admit(
    state: PlatformState[Any],
    request: trio_websocket.WebSocketRequest,
    peer_id: str | None,
    peer: P | None,
    *,
    unknown: str,
    tls_resumed: bool | None,
    target_ok: bool = True,
) -> P | None:
    """Admit a sideband handshake for ``peer`` (found by ``peer_id``) or reject it as OpenAI
    would, recording either: 401 without the API key, 404 ``not_found`` when the request target
    is not the endpoint's (``target_ok`` False) or names no id (``peer_id`` None), then a scripted stall or failure, then 404 ``unknown`` unless
    the peer exists and was accepted.  Returns the peer admitted, or None."""
    headers = {name.lower(): value for name, value in request.headers}
    if headers.get(b"authorization") != f"Bearer {state.api_key}".encode():
        status, code = 401, "invalid_api_key"
    elif not target_ok or peer_id is None:
        status, code = 404, "not_found"
    elif state.scripts.take("stall", "connect", peer_id) is not None:
        state.record_handshake(peer_id, 0, tls_resumed=tls_resumed)
        await trio.sleep_forever()  # until the caller's HANDSHAKE_TIMEOUT_S
    elif script := state.scripts.take("fail", "connect", peer_id):
        status, code = script.status, unknown
    elif peer is None or peer.state != "accepted":
        status, code = 404, unknown
    else:
        state.record_handshake(peer_id, 101, tls_resumed=tls_resumed)
        return peer
    state.record_handshake(peer_id, status, tls_resumed=tls_resumed)
    body = {"error": {"type": "invalid_request_error", "code": code, "message": code}}
    await request.reject(
        status,
        extra_headers=[(b"content-type", b"application/json")],
        body=json.dumps(body).encode(),
    )
    return None
