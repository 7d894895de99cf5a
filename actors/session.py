"""The sideband session of one accepted call, from greeting to teardown.

After ``accept``, the call actor opens ``OPENAI_REALTIME_URL?call_id=ID`` with trio-websocket
(OpenAI's SDK client for this socket is asyncio-only), sends the tenant's greeting, and serves
the model's tool calls until the call ends.  The session lives in the *call nursery*: the
websocket's reader, every tool run, and nothing else.

How a call ends (``call_ended`` ``reason``):

=====================  ======================================================================
caller_hangup          the sideband closed with 1000, 1001, 1005 (no code) or 1006 (no close frame:
                       a hanging-up caller often drops it so)
sideband_*             it closed otherwise (actors.sideband): ``_message_too_large`` (1009),
                       ``_protocol_error`` (a frame refused; 1002, 1003, 1007), ``_error`` (1011...)
end_call               the model called end_call and its goodbye finished playing
transferred            a transfer was requested and the session closed (or the wait ran out)
operator_hangup        ``POST /actors/{call_id}/hangup`` on the operator port
max_duration           the tenant's ``limits.max_call_duration_s`` ran out
drain                  the process was draining and the grace period ran out
session_start_failed   the sideband did not come up (rejected, TLS or handshake failure, 404s, timeout
                       before the handshake or OpenAI's ``session.created``)
=====================  ======================================================================

Teardown is shielded and bounded: unless the remote side closed the sideband normally (code
1000), the call is hung up through REST (a 404 means it was already gone), then the socket is
closed.  The capacity slot is released by the actor's scope right after.
"""

from __future__ import annotations

import json
import logging
import math
import ssl
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import h11
import trio
from attrs import frozen
from trio_websocket import (
    CloseReason,
    ConnectionClosed,
    ConnectionRejected,
    HandshakeError,
    WebSocketConnection,
    wrap_client_stream,
)
from wsproto.utilities import LocalProtocolError
from wsproto.utilities import ProtocolError as WebSocketProtocolError

from .errors import CallControlError, CallGoneError, SessionStartFailed
from .handle import CallHandle
from .log import log_event
from .playback import RESPONSE_EVENTS, Playback
from .sideband import (
    MAX_MESSAGE_BYTES,
    MESSAGE_QUEUE_SIZE,
    end_reason_of_close,
    excerpt,
    log_realtime_error,
    read_event,
)
from .tls import TlsSessions, describe_tls_failure, open_tls_over_tcp, tls_failure
from .tool_runs import ToolRuns

if TYPE_CHECKING:
    from .call import CallEnv, CallPlan

#: Pauses between sideband attempts answered with 404 (the session may lag the accept).
CONNECT_RETRY_DELAYS_S = (0.25, 0.5, 0.5)
#: How long closing the socket may take at teardown.
SOCKET_CLOSE_S = 1.0


_Stream = trio.SocketStream | trio.SSLStream[trio.SocketStream]


@frozen
class _Target:
    """Where one call's sideband is: read once from its URL, used by every attempt."""

    host: str
    port: int
    tls: bool
    #: The path and query the upgrade asks for.
    resource: str

    @classmethod
    def of(cls, url: str) -> _Target:
        parts = urlsplit(url)
        tls = parts.scheme == "wss"
        path = parts.path or "/"
        return cls(
            host=parts.hostname or "",
            port=parts.port or (443 if tls else 80),
            tls=tls,
            resource=f"{path}?{parts.query}" if parts.query else path,
        )

    @property
    def origin(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def host_header(self) -> str:
        return self.host if self.port in (80, 443) else f"{self.host}:{self.port}"


async def _open_stream(target: _Target, ssl_context: ssl.SSLContext, sessions: TlsSessions) -> _Stream:
    """TCP to the sideband's host, with the TLS handshake done (and verified) for ``wss``."""
    if not target.tls:
        return await trio.open_tcp_stream(target.host, target.port)
    return await open_tls_over_tcp(target.host, target.port, ssl_context, sessions=sessions)


def run_session(call: CallHandle, plan: CallPlan, env: CallEnv) -> Coroutine[Any, Any, None]:
    """Run ``call``'s sideband session until the call ends, then tear it down.

    Not ``async`` itself: it hands over the session's coroutine, one frame less per live call.
    """
    return _Session(call, plan, env).run()


#: What a broken upgrade answer raises from the handshake (h11 parses it, wsproto checks it).
_PROTOCOL_ERRORS = (h11.ProtocolError, WebSocketProtocolError)


class _Session(ToolRuns):
    __slots__ = (
        "call",
        "close_code",
        "closed",
        "env",
        "plan",
        "playback",
        "ws",
    )

    def __init__(self, call: CallHandle, plan: CallPlan, env: CallEnv) -> None:
        self.call = call
        self.plan = plan
        self.env = env
        self.ws: WebSocketConnection | None = None
        #: The sideband closed (its reader saw the close); ``close_code`` is the remote's code.
        self.closed = False
        self.close_code: int | None = None
        #: From sending the refer until it failed: a session closing meanwhile was transferred.
        self.transferring = False
        #: What the model's responses did: the goodbye waits of end_call and transfer_call.
        self.playback = Playback()
        #: Made at the first tool call (and the first queued): most calls have none.
        self._seen_tool_calls: dict[str, None] | None = None
        self._tool_queue = None

    # -- life -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, serve the call on the sideband, and tear down whatever happened.

        A session that connected is torn down inside the sideband's nursery (the websocket's
        reader must run for the close handshake); one that never connected, here.
        """
        call, settings = self.call, self.env.settings
        call.state = "starting_session"
        try:
            await self._connect_and_serve(trio.current_time() + settings.session_start_timeout_s)
        except SessionStartFailed as exc:
            log_event(
                logging.ERROR,
                "call_session_start_failed",
                "sideband session did not start; hanging up",
                reason=exc.reason,
                detail=str(exc),
                timeout_s=settings.session_start_timeout_s,
            )
            call.request_end("session_start_failed")
        finally:
            try:
                if self.ws is None:
                    call.state = "ending"
                    await self._teardown()
            finally:
                self._log_end()

    async def _connect_and_serve(self, start_deadline: float) -> None:
        """Open the sideband, retrying briefly while OpenAI answers 404 (session not ready)."""
        url = f"{self.env.settings.openai_realtime_url}?call_id={quote(self.call.call_id, safe='')}"
        target = _Target.of(url)
        for delay in (0.0, *CONNECT_RETRY_DELAYS_S):
            try:
                await self._attempt(target, delay, start_deadline)
                return
            except trio.TooSlowError:
                raise SessionStartFailed("timeout", "the sideband was not up in time") from None
            except ConnectionRejected as exc:
                if exc.status_code != 404:
                    raise SessionStartFailed("handshake_rejected", f"HTTP {exc.status_code}") from None
            except trio.BrokenResourceError as exc:
                tls = tls_failure(exc)
                if tls is None:
                    raise SessionStartFailed("handshake_failed", type(exc).__name__) from None
                raise SessionStartFailed("tls_error", describe_tls_failure(tls)) from None
            except (HandshakeError, OSError, *_PROTOCOL_ERRORS) as exc:
                # A refused port, a reset, or an upgrade answer that breaks the protocol (a wrong
                # Sec-WebSocket-Accept is h11's LocalProtocolError, from trio-websocket's reader).
                raise SessionStartFailed("handshake_failed", f"{type(exc).__name__}: {exc}"[:300]) from None
        raise SessionStartFailed("sideband_404", "no session for this call_id")

    async def _attempt(self, target: _Target, delay: float, start_deadline: float) -> None:
        """After ``delay``, one try at the sideband; once it is up, serve the call on it.

        The nursery is the call's: trio-websocket's reader and every tool run live in it.  Only
        the actor's own waits are in the call's scope, so that ending the call leaves the reader
        running until teardown has closed the websocket.  We open and close the TCP stream
        ourselves: trio-websocket's client leaves it open when the server closes first.
        """
        stream: _Stream | None = None
        try:
            async with trio.open_nursery() as nursery:
                try:
                    with self._call_scope() as scope:
                        with trio.fail_at(start_deadline):
                            if delay:
                                self.call.counters["connect_retries"] += 1
                                await trio.sleep(delay)
                            stream = await _open_stream(target, self.env.tls, self.env.tls_sessions)
                            ws = await self._handshake(nursery, stream, target)
                            # Up only once OpenAI says so: a sideband that never speaks is
                            # a start that timed out, not a live call nobody hears.
                            await self._session_created(ws, nursery)
                            self.ws = ws
                            if isinstance(stream, trio.SSLStream):
                                self.env.tls_sessions.keep(stream, target.origin)
                        await self._live(ws, nursery)
                    if scope.cancelled_caught and self.call.end_reason is None:
                        self.call.end_reason = "max_duration"
                finally:
                    if self.ws is not None:
                        self.call.state = "ending"
                        await self._teardown()
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # A failed handshake surfaces from the reader task, a late one from our deadline, a
            # refused or failed connection from the nursery's body: hand any over unwrapped.
            failed = group.subgroup(
                (HandshakeError, trio.TooSlowError, trio.BrokenResourceError, OSError,
                 SessionStartFailed, *_PROTOCOL_ERRORS)
            )
            if self.ws is None and failed is not None and failed.exceptions == group.exceptions:
                first = failed.exceptions[0]
                raise first from first.__cause__  # the cause says why (a TLS failure, say)
            late = group.subgroup(LocalProtocolError)
            if self.ws is None or late is None or late.exceptions != group.exceptions:
                raise
            # trio-websocket 0.12 answers a ping that arrives once the close has begun, and
            # wsproto refuses to send that pong: the reader task dies, after teardown.  The
            # sideband was closing either way; remove this when trio-websocket drops such pings.
            self.call.counters["late_frames"] += 1
            if self.call.end_reason is None:
                self.call.end_reason = "transferred" if self.transferring else "caller_hangup"
        finally:
            if stream is not None:
                await trio.aclose_forcefully(stream)

    def _call_scope(self) -> trio.CancelScope:
        """A scope that ``request_end`` cancels, with the call's deadline."""
        call = self.call
        scope = trio.CancelScope(deadline=call.deadline if call.deadline is not None else math.inf)
        call.attach_scope(scope)
        return scope

    async def _handshake(
        self, nursery: trio.Nursery, stream: _Stream, target: _Target
    ) -> WebSocketConnection:
        """The websocket over ``stream``; a rejected handshake is raised by the reader task."""
        return await wrap_client_stream(
            nursery,
            stream,
            target.host_header,
            target.resource,
            extra_headers=[(b"Authorization", f"Bearer {self.env.settings.openai_api_key}".encode())],
            max_message_size=MAX_MESSAGE_BYTES,
            message_queue_size=MESSAGE_QUEUE_SIZE,
        )

    async def _session_created(self, ws: WebSocketConnection, nursery: trio.Nursery) -> None:
        """Until the sideband's ``session.created``; any event before it is dispatched as usual."""
        while True:
            try:
                message = await ws.get_message()
            except ConnectionClosed:
                raise SessionStartFailed("handshake_failed", "closed before session.created") from None
            event = read_event(message)
            if event is not None and event.get("type") == "session.created":
                return
            await self._dispatch(message, nursery)  # parsed again: only what precedes it

    async def _live(self, ws: WebSocketConnection, nursery: trio.Nursery) -> None:
        """Greet the caller, then read the sideband until it closes."""
        await self._greet()
        while True:
            try:
                message = await ws.get_message()
            except ConnectionClosed as exc:
                self._closed(exc.reason)
                return
            await self._dispatch(message, nursery)

    def _closed(self, reason: CloseReason | None) -> None:
        """The sideband closed: end the call with the reason its close code names."""
        self.close_code = reason.code if reason is not None else None
        self.closed = True
        self.playback.changed()
        end_reason = "transferred" if self.transferring else end_reason_of_close(self.close_code)
        if end_reason.startswith("sideband_") and self.call.end_reason is None:
            log_event(
                logging.WARNING,
                "sideband_closed_abnormally",
                "the sideband closed abnormally; hanging up",
                end_reason=end_reason,
                close_code=self.close_code,
                close_reason=excerpt(reason.reason if reason is not None else None, 120),
                max_message_bytes=MAX_MESSAGE_BYTES,
            )
        self.call.request_end(end_reason)

    async def _greet(self) -> None:
        self.call.state = "live"
        log_event(logging.INFO, "call_session_started", "sideband session is up")
        greeting = self.plan.instructions.greeting
        await self._send(
            {
                "type": "response.create",
                "response": {"instructions": f"Greet the caller by saying exactly: {greeting}"},
            }
        )

    async def _dispatch(self, message: str | bytes, nursery: trio.Nursery) -> None:
        """Act on one sideband message; only a refused tool call waits here (for its output)."""
        counters = self.call.counters
        counters["events_received"] += 1
        event = read_event(message)
        if event is None:
            counters["unreadable_events"] += 1
            return
        kind = event.get("type")
        if not isinstance(kind, str):
            if kind is not None:  # untrusted input: a type that is a list or a number is no event
                counters["unreadable_events"] += 1
            return  # a type-less event is ignored, like every type we do not know
        if kind == "response.output_item.done":
            item = event.get("item")
            if (
                isinstance(item, dict)
                and item.get("type") == "function_call"
                and item.get("status") == "completed"
            ):
                await self._take_tool_call(item, nursery)
        elif kind in RESPONSE_EVENTS:
            self.playback.track(kind, event)
        elif kind == "error":
            log_realtime_error(event, counters)
        # Every other event type (and new ones OpenAI adds) is ignored.

    # -- io ---------------------------------------------------------------------------------

    async def _send(self, event: dict[str, Any]) -> bool:
        """Send one client event; False when the sideband is already closed."""
        if self.ws is None:
            return False
        try:
            await self.ws.send_message(json.dumps(event))
        except ConnectionClosed:
            return False
        self.call.counters["events_sent"] += 1
        return True

    async def _teardown(self) -> None:
        control = self.env.control
        with trio.move_on_after(control.timeout_s + 2.0, shield=True):
            if self.close_code != 1000:
                try:
                    await control.hangup(self.call.call_id)
                except CallGoneError:
                    pass
                except CallControlError as err:
                    log_event(logging.ERROR, err.event, "hangup failed", error=err)
            if self.ws is not None:
                with trio.move_on_after(SOCKET_CLOSE_S):
                    await self.ws.aclose()

    def _log_end(self) -> None:
        call = self.call
        reason = call.end_reason or "unknown"
        started = call.accepted_at if call.accepted_at is not None else call.received_at
        duration_s = round(trio.current_time() - started, 3)
        log_event(
            logging.INFO,
            "call_ended",
            "call ended",
            reason=reason,
            duration_s=duration_s,
            close_code=self.close_code,
            tool_calls=call.counters["tool_calls"],
            tool_calls_refused=call.counters["tool_calls_refused"],
        )
        self.env.hooks.ended(call, reason=reason, duration_s=duration_s)
