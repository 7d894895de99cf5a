"""The simulated platform's sideband websocket server (private; see supervisor.testing).

:func:`serve_sideband` is a plain ``trio.serve_tcp`` listener (TLS when the platform has it)
whose streams are wrapped by trio-websocket, so that the platform keeps hold of each TCP stream
and can drop it without a close frame (what a real caller hangup looks like).  A handshake is
admitted onto its call (:class:`~._call.SimulatedCall`) or rejected as OpenAI would; a scripted
``stall`` (``stall_tls``) leaves the websocket (TLS) handshake unanswered until
:data:`HANDSHAKE_TIMEOUT_S`, and a ``silent`` connection is accepted and then never spoken to.
"""

from __future__ import annotations

import contextlib
import json
from functools import partial
from urllib.parse import parse_qs, urlsplit

import trio
import trio_websocket
from wsproto.utilities import LocalProtocolError

from ._call import SimulatedCall, _error_event, new_id
from ._live_session import SimulatedLiveSession
from ._live_sideband import admit_live, converse_live, is_live_path
from ._peer import CLOSE_GRACE_S, _Connection, admit
from ._state import PlatformState

#: How long the platform waits for a websocket (or TLS) handshake.
HANDSHAKE_TIMEOUT_S = 10.0
#: Same ceiling as the openai SDK's own sideband client: effectively unlimited.
MAX_MESSAGE_BYTES = 16 * 2**20
REALTIME_PATH = "/v1/realtime"


# -- the websocket server ------------------------------------------------------------------


async def serve_sideband(
    state: PlatformState[SimulatedCall],
    host: str,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve sideband websockets on ``host`` (an ephemeral port) until cancelled.

    Reports the bound port.
    """
    async with trio.open_nursery() as connections:
        listeners = await connections.start(
            partial(trio.serve_tcp, partial(_handle_stream, state), 0, host=host)
        )
        task_status.started(listeners[0].socket.getsockname()[1])


async def _handle_stream(state: PlatformState[SimulatedCall], tcp: trio.SocketStream) -> None:
    """One TCP connection: TLS (wss), handshake, conversation, then a bounded close."""
    stream: trio.abc.Stream = tcp
    resumed: bool | None = None
    if state.tls is not None and state.scripts.take("stall_tls", "connect", None) is not None:
        state.record_handshake(None, 0)
        with trio.move_on_after(HANDSHAKE_TIMEOUT_S), contextlib.suppress(trio.BrokenResourceError):
            while await tcp.receive_some():  # the ClientHello, and whatever else comes
                pass
        await trio.aclose_forcefully(tcp)
        return
    if state.tls is not None:
        stream = trio.SSLStream(tcp, state.tls.server_context(), server_side=True, https_compatible=True)
        handshaken = False
        with trio.move_on_after(HANDSHAKE_TIMEOUT_S):
            with contextlib.suppress(trio.BrokenResourceError):  # refused our certificate, or left
                await stream.do_handshake()
                handshaken = True
        if not handshaken:
            await trio.aclose_forcefully(tcp)
            return
        resumed = stream.session_reused
    try:
        await _serve_connection(state, tcp, stream, resumed)
    except* LocalProtocolError:
        # trio-websocket 0.12 answers a ping that comes after the close began, and wsproto
        # refuses to send that pong: its reader dies.  Only this connection ends (clients such
        # as the websockets library ping every 20 s, so a mass hangup meets this).
        pass
    finally:
        await trio.aclose_forcefully(stream)
        await trio.aclose_forcefully(tcp)


async def _serve_connection(
    state: PlatformState[SimulatedCall], tcp: trio.SocketStream, stream: trio.abc.Stream, resumed: bool | None
) -> None:
    """The websocket on ``stream``: handshake, conversation, then a bounded close."""
    with trio.CancelScope() as bounded:
        async with trio.open_nursery() as nursery:  # trio-websocket's reader task
            call: SimulatedCall | SimulatedLiveSession | None = None
            ws = None
            with (
                trio.move_on_after(HANDSHAKE_TIMEOUT_S),
                contextlib.suppress(trio_websocket.ConnectionClosed),
            ):
                request = await trio_websocket.wrap_server_stream(
                    nursery, stream, max_message_size=MAX_MESSAGE_BYTES
                )
                if is_live_path(request.path):  # GPT-Live's attach (_live_sideband)
                    call = await admit_live(state, request, resumed)
                else:
                    call = await _admit(state, request, resumed)
                if call is not None:
                    ws = await request.accept()
            if call is None or ws is None:
                await stream.aclose()
                return
            silent = state.scripts.take("silent", "connect", call.call_id) is not None
            try:
                async with trio.open_nursery() as replies:
                    conn = _Connection(ws, tcp, replies)
                    with contextlib.suppress(trio_websocket.ConnectionClosed):
                        if silent:
                            await _stay_silent(call, conn)
                        elif isinstance(call, SimulatedLiveSession):
                            await converse_live(call, conn)
                        else:
                            await _converse(call, conn)
                    replies.cancel_scope.cancel()
            finally:
                if conn in call._live:
                    call._detach(conn)
                conn.done.set()
                # Finish the close handshake (whoever began it), then let the reader go.
                bounded.deadline = trio.current_time() + CLOSE_GRACE_S
                with trio.move_on_after(CLOSE_GRACE_S, shield=True):
                    await ws.aclose()


async def _converse(call: SimulatedCall, conn: _Connection) -> None:
    """Until the connection closes: session.created first, then answer client events."""
    # Sent before the connection is attached, so a test's call.send() always comes after it.
    await conn.ws.send_message(
        json.dumps(
            {"type": "session.created", "event_id": new_id("event"), "session": call._session}
        )
    )
    call._attach(conn)
    while True:
        await call._may_read()
        message = await conn.ws.get_message()
        try:
            event = json.loads(message)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            error = _error_event(
                "invalid_json",
                "Client event is not a JSON object.",
                None,
                "invalid_request_error",
                None,
            )
            await conn.ws.send_message(json.dumps(error))
            continue
        call._record(event)
        await call._react(conn, event)


async def _stay_silent(call: SimulatedCall | SimulatedLiveSession, conn: _Connection) -> None:
    """Until the connection closes: record what the client sends, never send anything."""
    call._attach(conn)
    while True:
        message = await conn.ws.get_message()
        try:
            event = json.loads(message)
        except ValueError:
            continue
        if isinstance(event, dict):
            call._record(event)


async def _admit(
    state: PlatformState[SimulatedCall], request: trio_websocket.WebSocketRequest, tls_resumed: bool | None
) -> SimulatedCall | None:
    """The call this handshake may attach to; otherwise reject it and return None."""
    url = urlsplit(request.path)
    call_ids = parse_qs(url.query).get("call_id", [])
    call_id = call_ids[0] if call_ids else None
    call = state.calls.get(call_id) if call_id else None
    return await admit(
        state, request, call_id, call,
        unknown="call_id_not_found", tls_resumed=tls_resumed, target_ok=url.path == REALTIME_PATH,
    )


