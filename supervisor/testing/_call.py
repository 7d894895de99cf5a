"""One call on the simulated platform, and the server side of its sideband (private; see supervisor.testing).

A :class:`SimulatedCall` is one call as the platform sees it: its state (``incoming`` until
accepted, ``accepted``, then ``ended``), the client events its sideband received, and the live
sideband connections a test drives through it.  The event shapes it sends are the Realtime
API's (``_shapes``), and it can also send what no server should (``_frames``).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import trio
import trio_websocket

from ._frames import FRAME_CLOSE, close_payload, encode_frame, write_raw
from ._peer import CLOSE_GRACE_S, SidebandPeer, _Connection
from ._shapes import audio_event, error_event, new_id, response_event, session_from_accept
from ._state import PlatformState

#: The sideband server's names for two of the shapes (it imports them from here).
_error_event = error_event
__all__ = ["CLOSE_GRACE_S", "SimulatedCall", "_error_event", "expect_call", "new_id"]



class SimulatedCall(SidebandPeer):
    """One call on the simulated platform, and the server side of its sideband.

    Get it with ``platform.call(call_id)``.  The async methods send on every live sideband
    connection; when none is live yet they block until the client connects, and they raise
    ``RuntimeError`` once the call has ended with nothing connected.  Wrap them in
    ``trio.fail_after`` in tests.
    """

    def __init__(
        self, call_id: str, state: PlatformState[SimulatedCall], *, runtime: str = "realtime"
    ) -> None:
        super().__init__(call_id, state)
        self.call_id = call_id
        #: The surface of the call's webhook, ``realtime`` or ``live``: its REST paths know it.
        self.runtime = runtime
        #: ``target_uri`` of the last refer the platform answered 200.
        self.refer_target: str | None = None
        self._session: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<SimulatedCall {self.call_id} {self.state} live={len(self._live)}>"

    # -- what the test reads --------------------------------------------------------------

    async def wait_tool_output(self, tool_call_id: str) -> dict[str, Any]:
        """Block until the client sends ``function_call_output`` for ``tool_call_id``.

        Returns the whole ``conversation.item.create`` event; the result string is in
        ``event["item"]["output"]``.
        """

        return await self._wait_function_output("conversation.item.create", tool_call_id)

    # -- what the test makes the server do ------------------------------------------------

    async def send_sized(self, size: int, *, event_type: str = "response.output_text.delta") -> bool:
        """Send one text frame of exactly ``size`` bytes (ASCII): an ``event_type`` event, padded.

        The padding is the event's ``delta``.  Returns False when a connection closed while the
        frame was being written (a client refusing it as too large closes with 1009 and stops
        reading), True when every live connection took all of it.
        """
        head = json.dumps({"type": event_type, "event_id": new_id("event"), "delta": ""})
        if size < len(head):
            raise ValueError(f"a {event_type} event takes at least {len(head)} bytes")
        frame = head[:-2] + "x" * (size - len(head)) + head[-2:]
        delivered = True
        for conn in await self._live_connections():
            try:
                await conn.ws.send_message(frame)
            except trio_websocket.ConnectionClosed:
                delivered = False
        return delivered

    async def send_close_frame(
        self, code: int | None, reason: str | bytes = b"", *, end_call: bool = True
    ) -> None:
        """Close every live connection with a hand-written close frame, then wait until it is gone.

        Any two-byte ``code`` is sent as is, those RFC 6455 keeps off the wire too (1005, 1006,
        1015, below 1000, 5000 and up); ``None`` sends a close frame without a payload, which the
        client reads as 1005.  A connection still there after ``CLOSE_GRACE_S`` is dropped.
        With ``end_call`` (the default) the call is over, as with :meth:`close`.
        """
        if end_call:
            self._end("closed")
        data = encode_frame(FRAME_CLOSE, close_payload(code, reason))
        for conn in list(self._live):
            with trio.move_on_after(CLOSE_GRACE_S):
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await write_raw(conn.ws, data)
                await conn.done.wait()
            if not conn.done.is_set():
                await conn.stream.aclose()

    async def send_error(
        self,
        *,
        code: str,
        message: str,
        param: str | None = None,
        error_type: str = "invalid_request_error",
        client_event_id: str | None = None,
    ) -> None:
        """Send an ``error`` event shaped like the Realtime API's."""
        await self.send(error_event(code, message, param, error_type, client_event_id))

    async def function_call(
        self,
        name: str,
        arguments: str,
        *,
        tool_call_id: str | None = None,
        status: str = "completed",
    ) -> str:
        """Have the model call tool ``name``; returns the tool call id.

        Sends ``response.created``, ``response.output_item.added``,
        ``response.function_call_arguments.done``, ``response.output_item.done`` (item
        ``status`` as given) and ``response.done`` (``completed``, or ``cancelled`` when the
        item did not complete).  ``arguments`` is the JSON string the model produced.
        """
        tool_call_id = tool_call_id or new_id("call")
        response_id, item_id = new_id("resp"), new_id("item")
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": name,
            "call_id": tool_call_id,
            "arguments": "",
        }
        done_item = {**item, "status": status, "arguments": arguments}
        response_status = "completed" if status == "completed" else "cancelled"
        await self.send(response_event("response.created", response_id, "in_progress", []))
        await self.send(
            {
                "type": "response.output_item.added",
                "event_id": new_id("event"),
                "response_id": response_id,
                "output_index": 0,
                "item": item,
            }
        )
        await self.send(
            {
                "type": "response.function_call_arguments.done",
                "event_id": new_id("event"),
                "response_id": response_id,
                "item_id": item_id,
                "output_index": 0,
                "call_id": tool_call_id,
                "name": name,
                "arguments": arguments,
            }
        )
        await self.send(
            {
                "type": "response.output_item.done",
                "event_id": new_id("event"),
                "response_id": response_id,
                "output_index": 0,
                "item": done_item,
            }
        )
        await self.send(response_event("response.done", response_id, response_status, [done_item]))
        return tool_call_id

    async def play_audio(self, *, duration_s: float | None = None) -> None:
        """Send ``output_audio_buffer.started``, wait, then ``output_audio_buffer.stopped``.

        ``duration_s`` defaults to ``platform.audio_duration_s``; the wait is ``trio.sleep``.
        """
        if duration_s is None:
            duration_s = self._state.audio_duration_s
        response_id = new_id("resp")
        await self.send(audio_event("output_audio_buffer.started", response_id))
        await trio.sleep(duration_s)
        await self.send(audio_event("output_audio_buffer.stopped", response_id))

    async def caller_hangup(self) -> None:
        """The caller hangs up: the call ends and the sideband closes normally (1000)."""
        self._end("caller_hangup")
        await self.close(1000, "")

    async def close(self, code: int = 1000, reason: str = "", *, end_call: bool = True) -> None:
        """Close every live connection with a close frame and wait until they are gone.

        With ``end_call`` (the default) the call is over: a new handshake gets 404.
        """
        if end_call:
            self._end("closed")
        for conn in list(self._live):
            with trio.move_on_after(CLOSE_GRACE_S):
                await conn.ws.aclose(code, reason)
                await conn.done.wait()

    async def abort(self, *, end_call: bool = True, mid_frame: bool = False) -> None:
        """Drop every live connection's TCP stream without a close frame.

        The client sees an abnormal closure (1006), as it does when a real caller hangs up.
        With ``mid_frame``, the stream is dropped halfway through a text frame: its header
        (announcing 64 KiB) and half its payload are written first.
        Beware: trio-websocket 0.12.2 clients then never close their own socket (nor after a
        rejected handshake); a client that owns its TCP stream (``wrap_client_stream``) can.
        """
        if end_call:
            self._end("caller_hangup")
        await self._drop_streams(mid_frame=mid_frame)

    # -- used by the platform ---------------------------------------------------------------

    def _accept(self, body: dict[str, Any]) -> None:
        if self.state == "incoming":
            self.state = "accepted"
            self.accept_body = body
            self._session = session_from_accept(body)
        self._changes.notify()

    async def _close_after(self, delay_s: float, ended_by: str) -> None:
        """Close the sideband normally after ``delay_s`` (a REST hangup or refer)."""
        await trio.sleep(delay_s)
        self._end(ended_by)
        await self.close(1000, "", end_call=False)

    def _attach(self, conn: _Connection) -> None:
        super()._attach(conn)
        if self._state.on_attached is not None:
            self._state.on_attached(self)

    def _record(self, event: dict[str, Any]) -> None:
        super()._record(event)
        if self._state.on_client_event is not None:
            self._state.on_client_event(self, event)

    async def _react(self, conn: _Connection, event: dict[str, Any]) -> None:
        """What the simulated model does with a client event (most need nothing)."""
        kind = event.get("type")
        if kind == "response.create" and self._state.auto_audio:
            conn.nursery.start_soon(self._answer, conn, name=f"sideband:{self.call_id}:response")
        elif kind == "session.update":
            session = event.get("session")
            if not isinstance(session, dict) or session.get("type") != "realtime":
                await conn.ws.send_message(
                    json.dumps(
                        error_event(
                            "missing_required_parameter",
                            "Missing required parameter: 'session.type'.",
                            "session.type",
                            "invalid_request_error",
                            event.get("event_id"),
                        )
                    )
                )
                return
            self._session.update(session)
            await conn.ws.send_message(
                json.dumps(
                    {
                        "type": "session.updated",
                        "event_id": new_id("event"),
                        "session": self._session,
                    }
                )
            )

    async def _answer(self, conn: _Connection) -> None:
        """The simulated model speaks one response (``platform.auto_audio``)."""
        response_id = new_id("resp")
        try:
            send = conn.ws.send_message
            await send(
                json.dumps(response_event("response.created", response_id, "in_progress", []))
            )
            await send(json.dumps(audio_event("output_audio_buffer.started", response_id)))
            await send(json.dumps(response_event("response.done", response_id, "completed", [])))
            await trio.sleep(self._state.audio_duration_s)
            await send(json.dumps(audio_event("output_audio_buffer.stopped", response_id)))
        except trio_websocket.ConnectionClosed:
            return


def expect_call(state: PlatformState[SimulatedCall], call_id: str, *, runtime: str = "realtime") -> SimulatedCall:
    """The call ``call_id``, made known (as its ``runtime``'s webhook would) if it was not."""
    call = state.calls.get(call_id)
    if call is None:
        call = state.calls[call_id] = SimulatedCall(call_id, state, runtime=runtime)
        state.changes.notify()
    return call
