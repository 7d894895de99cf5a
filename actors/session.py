"""The sideband session of one accepted call, from greeting to teardown, for either runtime.

After ``accept``, the call actor opens the call's sideband with trio-websocket (OpenAI's SDK
client for this socket is asyncio-only), asks the model to greet the caller, and serves the
model's tool calls until the call ends.  The session lives in the *call nursery*: the
websocket's reader, every tool run, and nothing else.

:class:`SidebandSession` is everything both runtimes do alike: the connection (TLS with the
process's one context, retries while OpenAI answers 404, the start deadline), the call's cancel
scope (operator hangup, drain, max duration), the tool runs, teardown and the ``call_ended``
line.  What the sideband *says* is the runtime's: ``actors.realtime_session`` (Realtime's
``?call_id=`` socket and its events) and ``actors.live_session`` (GPT-Live's ``attach`` and
its events) subclass it, and neither knows the other's event names.

How a call ends (``call_ended`` ``reason``), for both runtimes:

=====================  ======================================================================
caller_hangup          the caller hung up (Realtime: the sideband closed with 1000, 1001, 1005 or
                       1006; Live: ``session.closed`` ``remote_hangup``)
sideband_*             the sideband closed otherwise (actors.sideband): ``_message_too_large``
                       (1009), ``_protocol_error`` (a frame refused; 1002, 1003, 1007),
                       ``_error`` (1011...), ``_stalled`` (a send waited 10 s: the far side
                       reads nothing); Live adds ``sideband_lost`` (dropped without
                       ``session.closed`` and not reattached)
end_call               the model called end_call and its goodbye finished playing
transferred            a transfer was requested and the session closed (or the wait ran out)
operator_hangup        ``POST /actors/{call_id}/hangup`` on the operator port
max_duration           the tenant's ``limits.max_call_duration_s`` ran out
drain                  the process was draining and the grace period ran out
session_start_failed   the sideband did not come up (rejected, TLS or handshake failure, 404s, timeout,
                       Realtime: no ``session.created``; Live: an admission ``error`` first)
session_*              Live only, ``session.closed`` with another reason (actors.live_session)
=====================  ======================================================================

Teardown is shielded and bounded: unless the far side already ended the session (Realtime: a
close with 1000; Live: ``session.closed``), the call is hung up through REST on its runtime's
path (a 404 means it was already gone), then the socket is closed.  The capacity slot is
released by the actor's scope right after.
"""

from __future__ import annotations

import json
import logging
import math
from typing import TYPE_CHECKING, Any

import trio
from trio_websocket import (
    CloseReason,
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    wrap_client_stream,
)
from wsproto.utilities import LocalProtocolError

from .errors import CallControlError, CallGoneError, SessionStartFailed
from .handle import CallHandle
from .log import log_event
from .sideband import (
    MAX_MESSAGE_BYTES,
    MESSAGE_QUEUE_SIZE,
    end_reason_of_close,
    excerpt,
    read_event,
)
from .sideband_connect import START_ERRORS, Stream, Target, open_stream, start_failure
from .tool_runs import Goodbyes, ToolRuns

if TYPE_CHECKING:
    from .call import CallEnv, CallPlan

#: Pauses between sideband attempts answered with 404 (the session may lag the accept).
CONNECT_RETRY_DELAYS_S = (0.25, 0.5, 0.5)
#: How long closing the socket may take at teardown.
SOCKET_CLOSE_S = 1.0
#: How long one client event may wait to be sent: longer means the far side stopped reading
#: (its TCP window stays shut), and the call ends as ``sideband_stalled``.
SEND_TIMEOUT_S = 10.0

class SidebandSession(ToolRuns):
    """One call's sideband session; a runtime's subclass says what the sideband says.

    A subclass provides the URL (:meth:`_url`), the wait until the session is up
    (:meth:`_ready`), the greeting (:meth:`_greet`), what each message means (:meth:`_dispatch`),
    what a close means (:meth:`_closed`), whether teardown must still hang up
    (:meth:`_needs_hangup`), the tool-output events (``ToolRuns``' ``_send_*``) and its
    ``playback`` (when a goodbye has played).
    """

    __slots__ = ("_streams", "call", "close_code", "closed", "env", "plan", "playback", "ws")

    playback: Goodbyes[Any]

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
        #: Made at the first tool call (and the first queued): most calls have none.
        self._seen_tool_calls = None
        self._tool_queue = None
        #: Every TCP stream this session opened (a Live reattach opens a second), closed at the end.
        self._streams: list[Stream] = []

    # -- what a runtime says ------------------------------------------------------------------

    def _url(self) -> str:
        """The call's sideband URL."""
        raise NotImplementedError

    async def _ready(self, ws: WebSocketConnection, nursery: trio.Nursery) -> None:
        """Return once the session is up; raise ``SessionStartFailed`` when it will not be."""
        raise NotImplementedError

    async def _greet(self) -> None:
        raise NotImplementedError

    async def _dispatch(self, message: str | bytes, nursery: trio.Nursery) -> None:
        """Act on one sideband message; only a refused tool call waits here (for its output)."""
        raise NotImplementedError

    def _closed(self, reason: CloseReason | None) -> None:
        """The sideband closed: end the call with the reason its close code names."""
        self._close_ends_call(self._close_reason(reason), reason)

    def _needs_hangup(self) -> bool:
        """Whether teardown must still hang the call up (the far side did not end it)."""
        raise NotImplementedError

    def _end_fields(self) -> dict[str, Any]:
        """The runtime's fields of the ``call_ended`` line."""
        return {}

    async def _lost(self, reason: CloseReason | None, nursery: trio.Nursery) -> bool:
        """The sideband's reader saw it close; True when the session goes on on a new socket."""
        self._closed(reason)
        return False

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
        target = Target.of(self._url())
        for delay in (0.0, *CONNECT_RETRY_DELAYS_S):
            try:
                await self._attempt(target, delay, start_deadline)
                return
            except ConnectionRejected as exc:
                if exc.status_code != 404:
                    raise SessionStartFailed("handshake_rejected", f"HTTP {exc.status_code}") from None
            except START_ERRORS as exc:
                raise start_failure(exc) from None
        raise SessionStartFailed("sideband_404", "no session for this call_id")

    async def _attempt(self, target: Target, delay: float, start_deadline: float) -> None:
        """After ``delay``, one try at the sideband; once it is up, serve the call on it.

        The nursery is the call's: trio-websocket's reader and every tool run live in it.  Only
        the actor's own waits are in the call's scope, so that ending the call leaves the reader
        running until teardown has closed the websocket.  We open and close the TCP stream
        ourselves: trio-websocket's client leaves it open when the server closes first.
        """
        try:
            async with trio.open_nursery() as nursery:
                try:
                    with self._call_scope() as scope:
                        with trio.fail_at(start_deadline):
                            if delay:
                                self.call.counters["connect_retries"] += 1
                                await trio.sleep(delay)
                            await self._open(target, nursery)
                        await self._serve(nursery)
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
            failed = group.subgroup(START_ERRORS)
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
            streams, self._streams = self._streams, []
            for stream in streams:
                await trio.aclose_forcefully(stream)

    async def _open(self, target: Target, nursery: trio.Nursery) -> None:
        """TCP (and TLS), the upgrade, and the runtime's wait until the session is up; then
        ``self.ws`` is the sideband.  The caller bounds it with the start deadline."""
        stream = await open_stream(target, self.env.tls, self.env.tls_sessions)
        self._streams.append(stream)
        ws = await wrap_client_stream(
            nursery,
            stream,
            target.host_header,
            target.resource,
            extra_headers=[(b"Authorization", f"Bearer {self.env.settings.openai_api_key}".encode())],
            max_message_size=MAX_MESSAGE_BYTES,
            message_queue_size=MESSAGE_QUEUE_SIZE,
        )
        # Up only once the runtime says so: a sideband that never speaks is a start that timed
        # out, not a live call nobody hears.
        await self._ready(ws, nursery)
        self.ws = ws
        if isinstance(stream, trio.SSLStream):
            self.env.tls_sessions.keep(stream, target.origin)

    def _call_scope(self) -> trio.CancelScope:
        """A scope that ``request_end`` cancels, with the call's deadline."""
        call = self.call
        scope = trio.CancelScope(deadline=call.deadline if call.deadline is not None else math.inf)
        call.attach_scope(scope)
        return scope

    async def _serve(self, nursery: trio.Nursery) -> None:
        """Greet the caller, then read the sideband until it closes for good."""
        self.call.state = "live"
        log_event(logging.INFO, "call_session_started", "sideband session is up")
        await self._greet()
        while True:
            ws = self.ws
            assert ws is not None  # set by _open (and by a reattach)
            try:
                message = await ws.get_message()
            except ConnectionClosed as exc:
                if await self._lost(exc.reason, nursery):
                    continue
                return
            await self._dispatch(message, nursery)

    def _close_ends_call(self, end_reason: str, reason: CloseReason | None) -> None:
        """End the call with ``end_reason`` (a ``sideband_*`` one is logged first)."""
        self.closed = True
        self.playback.changed()
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

    def _close_reason(self, reason: CloseReason | None) -> str:
        """The end reason a close with ``reason`` names (a transfer in flight: transferred)."""
        self.close_code = reason.code if reason is not None else None
        return "transferred" if self.transferring else end_reason_of_close(self.close_code)

    def _event_of(self, message: str | bytes) -> dict[str, Any] | None:
        """The event one message holds, with a string ``type``; None otherwise.

        Counts it (``events_received``) and, when it is not an event, ``unreadable_events``
        (a missing ``type`` is an event we ignore; a ``type`` that is not a string is none).
        """
        counters = self.call.counters
        counters["events_received"] += 1
        event = read_event(message)
        if event is None:
            counters["unreadable_events"] += 1
            return None
        kind = event.get("type")
        if not isinstance(kind, str):
            if kind is not None:
                counters["unreadable_events"] += 1
            return None
        return event

    # -- io ---------------------------------------------------------------------------------

    async def _send(self, event: dict[str, Any]) -> bool:
        """Send one client event; False when the sideband is closed, or stalled: a send that
        waits :data:`SEND_TIMEOUT_S` (the far side reads nothing) ends the call as
        ``sideband_stalled``."""
        if self.ws is None:
            return False
        with trio.move_on_after(SEND_TIMEOUT_S) as waited:
            try:
                await self.ws.send_message(json.dumps(event))
            except ConnectionClosed:
                return False
        if waited.cancelled_caught:
            self.call.counters["sends_stalled"] += 1
            self._close_ends_call("sideband_stalled", None)
            return False
        self.call.counters["events_sent"] += 1
        return True

    async def _teardown(self) -> None:
        control = self.env.control
        with trio.move_on_after(control.timeout_s + 2.0, shield=True):
            if self._needs_hangup():
                try:
                    await control.hangup(self.call.call_id, runtime=self.plan.runtime)
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
            **self._end_fields(),
        )
        self.env.hooks.ended(call, reason=reason, duration_s=duration_s)
