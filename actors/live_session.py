"""A GPT-Live call's sideband: ``{OPENAI_LIVE_URL}/sessions/{session_id}/attach`` and its events.

Attached after the accept (``actors.session.SidebandSession`` retries a 404 as for Realtime).
Nothing has to come first on a Live sideband, but an admission ``error`` may: the session is up
at the first event that is not an ``error``, or once :data:`QUIET_START_S` passes with none; an
``error`` first fails the start (``call_session_start_failed`` reason ``admission_error``).

- **Greeting**: Live has no speech-triggering ``response.create``; the tenant's greeting is an
  append with ``delegation_id`` null, ``session.commentary.append`` (the greeting's words, the
  default) or ``session.instructions.append`` (an instruction to say them), by the tenant's
  ``live.greeting_event`` (docs/decisions/0013-live-greeting-by-commentary.md).
- **Tools** run through the Responses delegation the accept configured: a function call is the
  nested ``response.output_item.done`` of a ``response.event`` (never the lifecycle snapshots,
  whose output is cleared), each ``call_id`` run once; its output goes back as
  ``response.item.create``, and one ``response.create`` follows once the backend's response
  has finished streaming and no other run of the call is in flight (parallel calls: every
  output, then one ``response.create``).
- **Goodbyes** (``end_call``, ``transfer_call``) wait for the model's reflected audio to stop
  (``actors.live_playback``), bounded by the tool's timeout.
- **The end**: ``session.closed`` ends the call with its ``reason`` (:data:`CLOSED_REASONS`),
  logged as ``closed_reason`` in ``call_ended``; no REST hangup follows it.  A socket that drops
  without ``session.closed`` does not end the session (the reference): it is logged
  (``live_sideband_lost``) and attached once more; if that fails, the call is hung up through
  REST and ends as ``sideband_lost``.

Reflected audio arrives continuously (about 50 frames a second each way, some 1,300 characters
each): caller audio is dropped on its first bytes, unparsed; model audio is read (its fields
off its text, never JSON-parsed) only while a goodbye is being waited for.  Both are counted (``audio_frames`` in ``GET /actors``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import trio
from trio_websocket import CloseReason, ConnectionClosed, WebSocketConnection

from .errors import SessionStartFailed
from .handle import CallHandle
from .live_playback import ReflectedAudio, audio_frame
from .log import log_event
from .session import SidebandSession
from .sideband import excerpt, log_sideband_error, read_event
from .sideband_connect import START_ERRORS, Target, start_failure

if TYPE_CHECKING:
    from .call import CallEnv, CallPlan

#: How long an attach may stay quiet before it counts as up (nothing is required first).
QUIET_START_S = 1.0
#: The ``call_ended`` reason of each ``session.closed`` ``reason``; ``close_requested`` keeps
#: the reason callvisor (or a transfer) ended the call for, and any other value is
#: ``session_closed``.
CLOSED_REASONS = {
    "remote_hangup": "caller_hangup",
    "close_requested": "session_closed",
    "expired": "session_expired",
    "content": "session_content_filtered",
    "connection_lost": "session_connection_lost",
}
#: How a message of reflected audio starts, compact or as Python's json writes it: such
#: messages are told apart on these bytes, before (and mostly instead of) parsing them.
_INPUT_AUDIO = ('{"type":"session.input_audio.append"', '{"type": "session.input_audio.append"')
_OUTPUT_AUDIO = ('{"type":"session.output_audio.delta"', '{"type": "session.output_audio.delta"')
#: The nested events that end a backend response (``ResponseStreamEvent``).
_BACKEND_FINISHED = frozenset({"response.completed", "response.failed", "response.incomplete"})
#: The append each ``live.greeting_event`` value (config.models.GREETING_EVENTS) sends.
GREETING_APPENDS = {"commentary": "session.commentary.append", "instructions": "session.instructions.append"}


def run_live_session(call: CallHandle, plan: CallPlan, env: CallEnv) -> Coroutine[Any, Any, None]:
    """Run a GPT-Live ``call``'s sideband session until the call ends, then tear it down."""
    return LiveSession(call, plan, env).run()


def greeting_event(kind: str, greeting: str) -> dict[str, Any]:
    """The append that asks the Live model to greet the caller (``kind``: ``live.greeting_event``)."""
    if kind == "instructions":
        content = f"Greet the caller now by saying exactly: {greeting} Then listen."
    else:
        content = greeting
    return {"type": GREETING_APPENDS[kind], "delegation_id": None, "content": content}


class LiveSession(SidebandSession):
    __slots__ = ("backend_streaming", "closed_reason", "reattached", "unanswered_outputs")

    playback: ReflectedAudio

    def __init__(self, call: CallHandle, plan: CallPlan, env: CallEnv) -> None:
        super().__init__(call, plan, env)
        self.playback = ReflectedAudio()
        #: The ``reason`` of the ``session.closed`` received, excerpted.
        self.closed_reason: str | None = None
        #: Whether the one reattach after a lost sideband was tried.
        self.reattached = False
        #: Between the backend response's nested ``response.created`` and its end.
        self.backend_streaming = False
        #: Function call outputs sent since the last ``response.create``.
        self.unanswered_outputs = 0

    def _url(self) -> str:
        session_id = quote(self.call.call_id, safe="")
        return f"{self.env.settings.openai_live_url}/sessions/{session_id}/attach"

    async def _ready(self, ws: WebSocketConnection, nursery: trio.Nursery) -> None:
        """Up at the first event that is not an ``error``, or after :data:`QUIET_START_S` of none."""
        message: str | bytes | None = None
        with trio.move_on_after(QUIET_START_S):
            try:
                message = await ws.get_message()
            except ConnectionClosed:
                raise SessionStartFailed("handshake_failed", "closed before any event") from None
        if message is None:
            return  # quiet: nothing is required first
        audio = isinstance(message, str) and message.startswith(_INPUT_AUDIO + _OUTPUT_AUDIO)
        event = None if audio else read_event(message)
        if event is not None and event.get("type") == "error":
            error = event.get("error")
            error = error if isinstance(error, dict) else {}
            code, text = excerpt(error.get("code"), 80), excerpt(error.get("message"), 200)
            raise SessionStartFailed("admission_error", f"{code}: {text}")
        await self._dispatch(message, nursery)

    async def _greet(self) -> None:
        kind = self.plan.config.live_options.greeting_event
        await self._send(greeting_event(kind, self.plan.instructions.greeting))

    async def _dispatch(self, message: str | bytes, nursery: trio.Nursery) -> None:
        counters = self.call.counters
        if isinstance(message, str):
            if message.startswith(_INPUT_AUDIO):
                counters["audio_frames"] += 1
                return
            if message.startswith(_OUTPUT_AUDIO):
                counters["audio_frames"] += 1
                self.playback.frame(audio_frame(message) if self.playback.waiting else None)
                return
        event = self._event_of(message)
        if event is None:
            return
        kind = event["type"]
        if kind == "response.event":
            nested = event.get("event")
            if isinstance(nested, dict):
                await self._backend_event(nested, nursery)
        elif kind == "session.output_audio.delta":  # its fields in another order than usual
            counters["audio_frames"] += 1
            self.playback.frame(event)
        elif kind == "session.input_audio.append":
            counters["audio_frames"] += 1
        elif kind == "session.closed":
            self._session_closed(event.get("reason"))
        elif kind == "error":
            log_sideband_error("live_error", event, counters)
        # Every other event type (transcripts, acknowledgements, new ones) is ignored.

    async def _backend_event(self, nested: dict[str, Any], nursery: trio.Nursery) -> None:
        """One event of the Responses backend (the ``event`` of a ``response.event``)."""
        kind = nested.get("type")
        if kind == "response.output_item.done":
            item = nested.get("item")
            if (
                isinstance(item, dict)
                and item.get("type") == "function_call"
                and item.get("status", "completed") == "completed"
            ):
                await self._take_tool_call(item, nursery)
        elif kind == "response.created":
            self.backend_streaming = True
        elif kind in _BACKEND_FINISHED:
            self.backend_streaming = False
            await self._continue_when_answered(running=0)

    def _session_closed(self, reason: object) -> None:
        """``session.closed``: the session is over; the call ends with the reason it names."""
        closed = excerpt(reason, 40) if isinstance(reason, str) else "<missing>"
        self.closed_reason = str(closed)
        end_reason = CLOSED_REASONS.get(self.closed_reason, "session_closed")
        if self.transferring:  # the caller's leg went to the target: whatever the reason
            end_reason = "transferred"
        self.closed = True
        self.playback.changed()
        self.call.request_end(end_reason)  # a reason already set (operator_hangup...) stays

    async def _lost(self, reason: CloseReason | None, nursery: trio.Nursery) -> bool:
        """The socket closed: the end after ``session.closed`` or when the call is ending;
        otherwise the sideband was lost with the session alive, and is attached once more."""
        if self.closed_reason is not None or self.call.end_reason is not None or self.reattached:
            if self.closed_reason is None:
                self._closed(reason)
            else:
                self.close_code = reason.code if reason is not None else None
            return False
        self.reattached = True
        self.close_code = reason.code if reason is not None else None
        log_event(
            logging.WARNING,
            "live_sideband_lost",
            "the Live sideband closed without session.closed; attaching again",
            close_code=self.close_code,
        )
        try:
            with trio.fail_after(self.env.settings.session_start_timeout_s):
                await nursery.start(self._hold_reattached, Target.of(self._url()), name="live-reattach")
        except (SessionStartFailed, trio.TooSlowError) as exc:
            detail = exc.reason if isinstance(exc, SessionStartFailed) else "timeout"
            log_event(
                logging.WARNING,
                "live_sideband_lost",
                "the Live sideband could not be attached again; hanging up",
                close_code=self.close_code,
                reattach=detail,
            )
            self._close_ends_call("sideband_lost", reason)
            return False
        self.call.counters["reattaches"] += 1
        return True

    async def _hold_reattached(self, target: Target, *, task_status: trio.TaskStatus[None]) -> None:
        """Attach again and hold the new socket's reader until the call nursery ends.

        Its own nursery, so that a refused attach (raised by the reader task) fails this
        reattach and not the call.
        """
        try:
            async with trio.open_nursery() as reader:
                await self._open(target, reader)
                task_status.started()
                await trio.sleep_forever()
        except BaseExceptionGroup as group:
            failed = group.subgroup(START_ERRORS)
            if failed is None or failed.exceptions != group.exceptions:
                raise
            raise start_failure(failed.exceptions[0]) from None

    def _needs_hangup(self) -> bool:
        return self.closed_reason is None

    def _end_fields(self) -> dict[str, Any]:
        return {
            "runtime": "live",
            "closed_reason": self.closed_reason,
            "reattached": self.reattached,
            "audio_frames": self.call.counters["audio_frames"],
        }

    # -- tool outputs -------------------------------------------------------------------------

    async def _send_output_item(self, tool_call_id: str, output: dict[str, Any]) -> bool:
        item = {"type": "function_call_output", "call_id": tool_call_id, "output": json.dumps(output)}
        if not await self._send({"type": "response.item.create", "item": item}):
            return False
        self.unanswered_outputs += 1
        return True

    async def _send_tool_output(self, tool_call_id: str, output: dict[str, Any]) -> bool:
        """The output; then ``response.create`` if it was the last one awaited (this run is
        still counted as running here)."""
        return await self._send_output_item(tool_call_id, output) and await self._continue_when_answered(running=1)

    async def _continue_response(self) -> bool:
        return await self._continue_when_answered(running=0)

    async def _continue_when_answered(self, *, running: int) -> bool:
        """One ``response.create`` once every function call of the backend's response has its
        output: outputs are waiting, the response has finished streaming (its nested
        ``response.completed``: more calls may follow until then), and no other run is in
        flight or queued (``running``: the runs of the caller still counted).  True when
        nothing failed to send."""
        if (
            not self.unanswered_outputs
            or self.backend_streaming
            or len(self.call.tools_running) > running
            or self._tool_queue
        ):
            return True
        self.unanswered_outputs = 0
        return await self._send({"type": "response.create"})

    async def _tell_model(self, text: str) -> None:
        await self._send({"type": "session.instructions.append", "delegation_id": None, "content": text})
