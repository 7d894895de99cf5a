"""The sideband session of one accepted call, from greeting to teardown.

After ``accept``, the call actor opens ``OPENAI_REALTIME_URL?call_id=ID`` with trio-websocket
(OpenAI's SDK client for this socket is asyncio-only), sends the tenant's greeting, and serves
the model's tool calls until the call ends.  The session lives in the *call nursery*: the
websocket's reader, every tool run, and nothing else.

How a call ends (``call_ended`` ``reason``):

=====================  ======================================================================
caller_hangup          the sideband closed (a hanging-up caller often drops it without a frame)
end_call               the model called end_call and its goodbye finished playing
transferred            a transfer was requested and the session closed (or the wait ran out)
operator_hangup        ``POST /actors/{call_id}/hangup`` on the operator port
max_duration           the tenant's ``limits.max_call_duration_s`` ran out
drain                  the process was draining and the grace period ran out
session_start_failed   the sideband did not come up within CALL_SESSION_START_TIMEOUT_S
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
from urllib.parse import SplitResult, quote, urlsplit

import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    HandshakeError,
    WebSocketConnection,
    wrap_client_stream,
)
from wsproto.utilities import LocalProtocolError

from config.models import EndCallTool, TransferCallTool

from .errors import CallControlError, CallGoneError, SessionStartFailed, ToolExecutionError
from .handle import CallHandle
from .log import log_event
from .tls import TlsSessions, describe_tls_failure, tls_failure
from .tools import CallAction, ToolResult, find_tool, parse_arguments, run_tool

if TYPE_CHECKING:
    from .call import CallEnv, CallPlan

MAX_MESSAGE_BYTES = 16 * 2**20
#: Pauses between sideband attempts answered with 404 (the session may lag the accept).
CONNECT_RETRY_DELAYS_S = (0.25, 0.5, 0.5)
#: Upper bound for one tool run, whatever its own timeout says.
TOOL_RUN_LIMIT_S = 60.0
#: How long a transfer's goodbye may play before the refer is sent anyway.
TRANSFER_GOODBYE_S = 10.0
#: How long closing the socket may take at teardown.
SOCKET_CLOSE_S = 1.0


_RESPONSE_EVENTS = frozenset(
    {
        "response.created",
        "response.done",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "output_audio_buffer.cleared",
    }
)


_Stream = trio.SocketStream | trio.SSLStream[trio.SocketStream]


async def _open_stream(target: SplitResult, ssl_context: ssl.SSLContext, sessions: TlsSessions) -> _Stream:
    """TCP to the sideband's host, with the TLS handshake done (and verified) for ``wss``."""
    host = target.hostname or ""
    if target.scheme != "wss":
        return await trio.open_tcp_stream(host, target.port or 80)
    port = target.port or 443
    tcp = await trio.open_tcp_stream(host, port)
    tls = trio.SSLStream(tcp, ssl_context, server_hostname=host, https_compatible=True)
    sessions.offer(tls, (host, port))
    try:
        await tls.do_handshake()
    except BaseException:
        await trio.aclose_forcefully(tls)
        raise
    return tls


def run_session(call: CallHandle, plan: CallPlan, env: CallEnv) -> Coroutine[Any, Any, None]:
    """Run ``call``'s sideband session until the call ends, then tear it down.

    Not ``async`` itself: it hands over the session's coroutine, one frame less per live call.
    """
    return _Session(call, plan, env).run()


class _Session:
    __slots__ = (
        "_audio",
        "_changed",
        "_responses",
        "_seen_tool_calls",
        "call",
        "close_code",
        "closed",
        "env",
        "plan",
        "transferring",
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
        # Responses in the order the server created them, and what their audio did (response
        # id -> finished): a goodbye has played when *its* response's audio stopped (or it had
        # none).  ``_changed``, made when someone waits, is set when any of this or ``closed``
        # changes.
        self._responses: list[str] = []
        self._audio: dict[str, bool] = {}
        self._changed: trio.Event | None = None
        #: Made at the first tool call: most calls have none.
        self._seen_tool_calls: set[str] | None = None

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
        target = urlsplit(url)
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
            except (HandshakeError, OSError) as exc:
                raise SessionStartFailed("handshake_failed", type(exc).__name__) from None
        raise SessionStartFailed("sideband_404", "no session for this call_id")

    async def _attempt(self, target: SplitResult, delay: float, start_deadline: float) -> None:
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
                            self.ws = ws = await self._handshake(nursery, stream, target)
                            if isinstance(stream, trio.SSLStream):
                                self.env.tls_sessions.keep(stream, (target.hostname or "", target.port or 443))
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
            failed = group.subgroup((HandshakeError, trio.TooSlowError, trio.BrokenResourceError, OSError))
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
        self, nursery: trio.Nursery, stream: _Stream, target: SplitResult
    ) -> WebSocketConnection:
        """The websocket over ``stream``; a rejected handshake is raised by the reader task."""
        host = target.hostname or ""
        port = target.port or (443 if target.scheme == "wss" else 80)
        resource = f"{target.path or '/'}?{target.query}" if target.query else (target.path or "/")
        return await wrap_client_stream(
            nursery,
            stream,
            host if port in (80, 443) else f"{host}:{port}",
            resource,
            extra_headers=[(b"Authorization", f"Bearer {self.env.settings.openai_api_key}".encode())],
            max_message_size=MAX_MESSAGE_BYTES,
        )

    async def _live(self, ws: WebSocketConnection, nursery: trio.Nursery) -> None:
        """Greet the caller, then read the sideband until it closes."""
        await self._greet()
        while True:
            try:
                message = await ws.get_message()
            except ConnectionClosed as exc:
                self.close_code = exc.reason.code if exc.reason is not None else None
                self.closed = True
                self._pulse()
                self.call.request_end("transferred" if self.transferring else "caller_hangup")
                return
            self._dispatch(message, nursery)

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

    def _dispatch(self, message: str | bytes, nursery: trio.Nursery) -> None:
        counters = self.call.counters
        counters["events_received"] += 1
        try:
            event = json.loads(message)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            counters["unreadable_events"] += 1
            return
        kind = event.get("type")
        if kind == "response.output_item.done":
            item = event.get("item")
            if (
                isinstance(item, dict)
                and item.get("type") == "function_call"
                and item.get("status") == "completed"
            ):
                self._start_tool(item, nursery)
        elif kind in _RESPONSE_EVENTS:
            self._track_response(kind, event)
        elif kind == "error":
            counters["error_events"] += 1
            error = event.get("error")
            error = error if isinstance(error, dict) else {}
            log_event(
                logging.WARNING,
                "realtime_error",
                "the realtime session reported an error",
                code=str(error.get("code"))[:80],
                error_message=str(error.get("message"))[:300],
            )
        # Every other event type (and new ones OpenAI adds) is ignored.

    def _track_response(self, kind: str, event: dict[str, Any]) -> None:
        response = event.get("response")
        response_id = response.get("id") if isinstance(response, dict) else event.get("response_id")
        if not isinstance(response_id, str):
            return
        if kind == "response.created":
            self._responses.append(response_id)
        elif kind == "output_audio_buffer.started":
            self._audio.setdefault(response_id, False)
        elif kind == "response.done":
            self._audio.setdefault(response_id, True)  # True: a response without audio
        else:  # output_audio_buffer.stopped / .cleared
            self._audio[response_id] = True
        self._pulse()

    def _pulse(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def _wait_change(self) -> None:
        if self._changed is None:
            self._changed = trio.Event()
        await self._changed.wait()

    # -- tools ------------------------------------------------------------------------------

    def _start_tool(self, item: dict[str, Any], nursery: trio.Nursery) -> None:
        tool_call_id = item.get("call_id")
        if self._seen_tool_calls is None:
            self._seen_tool_calls = set()
        if not isinstance(tool_call_id, str) or tool_call_id in self._seen_tool_calls:
            return
        self._seen_tool_calls.add(tool_call_id)
        name = str(item.get("name"))[:64]
        nursery.start_soon(
            self._run_tool, tool_call_id, name, item.get("arguments"), name=f"tool:{name}:{tool_call_id}"
        )

    async def _run_tool(self, tool_call_id: str, name: str, arguments: object) -> None:
        call = self.call
        call.tools_running[tool_call_id] = name
        call.counters["tool_calls"] += 1
        try:
            label = "unknown"  # the metric label: only configured names, never the model's
            try:
                tool = find_tool(self.plan.tools, name)
                label = tool.name
                args = parse_arguments(tool, arguments)
                with trio.fail_after(TOOL_RUN_LIMIT_S):
                    result = await run_tool(tool, args, self.env.tool_http, self.env.tool_limiter)
                outcome = "ok"
            except trio.TooSlowError:
                err = ToolExecutionError(
                    f"{name} ran longer than {TOOL_RUN_LIMIT_S:g} s",
                    reason="tool_timeout",
                    tenant_id=self.plan.tenant_id,
                    context={"tool_name": name},
                )
                result, outcome = self._failed(err), err.reason
            except ToolExecutionError as err:
                err.tenant_id = self.plan.tenant_id
                result, outcome = self._failed(err), err.reason
            self.env.hooks.tool_run(label, outcome)
            mark = len(self._responses)
            if not await self._send_tool_output(tool_call_id, result.output):
                return
            if result.then is not None:
                await self._carry_out(result.then, mark)
        finally:
            del call.tools_running[tool_call_id]

    def _failed(self, err: ToolExecutionError) -> ToolResult:
        log_event(logging.ERROR, err.event, "tool call failed; the model is told", error=err)
        return ToolResult(output={"ok": False, "error": err.reason, "message": err.message})

    async def _send_tool_output(self, tool_call_id: str, output: dict[str, Any]) -> bool:
        item = {"type": "function_call_output", "call_id": tool_call_id, "output": json.dumps(output)}
        return await self._send({"type": "conversation.item.create", "item": item}) and await self._send(
            {"type": "response.create"}
        )

    async def _carry_out(self, tool: CallAction, mark: int) -> None:
        if isinstance(tool, EndCallTool):
            await self._wait_goodbye(mark, tool.goodbye_timeout_s)
            self.call.request_end("end_call")
            return
        await self._transfer(tool, mark)

    async def _transfer(self, tool: TransferCallTool, mark: int) -> None:
        await self._wait_goodbye(mark, TRANSFER_GOODBYE_S)
        # A session that closes while the refer is in flight ends as transferred.
        self.transferring = True
        try:
            await self.env.control.refer(self.call.call_id, target_uri=tool.target_uri)
        except CallGoneError:
            self.call.request_end("caller_hangup")
            return
        except CallControlError as err:
            self.transferring = False
            log_event(logging.ERROR, err.event, "refer failed; the call continues", error=err)
            await self._send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "system",
                        "content": [
                            {
                                "type": "input_text",
                                "text": "The transfer failed. Apologise and offer to help another way.",
                            }
                        ],
                    },
                }
            )
            await self._send({"type": "response.create"})
            return
        log_event(logging.INFO, "call_transfer_requested", "transfer requested", target_uri=tool.target_uri)
        with trio.move_on_after(tool.close_timeout_s):
            while not self.closed:
                await self._wait_change()
        self.call.request_end("transferred")

    async def _wait_goodbye(self, mark: int, timeout_s: float) -> None:
        """Wait, at most ``timeout_s``, until the goodbye has played.

        The goodbye is the first response the server created after ``mark`` (the response.create
        sent with the tool output); it has played when *its* audio stopped, or when it finished
        without audio.  Audio of earlier responses does not count.
        """
        with trio.move_on_after(timeout_s):
            while len(self._responses) <= mark:
                await self._wait_change()
            goodbye = self._responses[mark]
            while not self._audio.get(goodbye, False):
                await self._wait_change()

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
        )
        self.env.hooks.ended(call, reason=reason, duration_s=duration_s)
