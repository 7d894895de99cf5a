"""A Realtime call's sideband: ``OPENAI_REALTIME_URL?call_id=ID`` and the Realtime API's events.

The session (``actors.session.SidebandSession``) is up at the server's ``session.created``; the
greeting is a ``response.create`` whose instructions say the tenant's greeting; tool calls are
``response.output_item.done`` items of type ``function_call``, answered with
``conversation.item.create`` (``function_call_output``) and ``response.create``; ``end_call``
and ``transfer_call`` wait for the audio of their own goodbye response (``actors.playback``).

Realtime has no event for the end of a call: the sideband's close code says how it ended
(``actors.sideband.end_reason_of_close``), and a close with 1000 needs no REST hangup.
"""

from __future__ import annotations

import json
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from .errors import SessionStartFailed
from .handle import CallHandle
from .playback import RESPONSE_EVENTS, Playback
from .session import SidebandSession
from .sideband import log_sideband_error, read_event

if TYPE_CHECKING:
    from .call import CallEnv, CallPlan


def run_session(call: CallHandle, plan: CallPlan, env: CallEnv) -> Coroutine[Any, Any, None]:
    """Run a Realtime ``call``'s sideband session until the call ends, then tear it down.

    Not ``async`` itself: it hands over the session's coroutine, one frame less per live call.
    """
    return RealtimeSession(call, plan, env).run()


class RealtimeSession(SidebandSession):
    __slots__ = ()

    playback: Playback

    def __init__(self, call: CallHandle, plan: CallPlan, env: CallEnv) -> None:
        super().__init__(call, plan, env)
        #: What the model's responses did: the goodbye waits of end_call and transfer_call.
        self.playback = Playback()

    def _url(self) -> str:
        return f"{self.env.settings.openai_realtime_url}?call_id={quote(self.call.call_id, safe='')}"

    async def _ready(self, ws: WebSocketConnection, nursery: trio.Nursery) -> None:
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

    async def _greet(self) -> None:
        greeting = self.plan.instructions.greeting
        await self._send(
            {
                "type": "response.create",
                "response": {"instructions": f"Greet the caller by saying exactly: {greeting}"},
            }
        )

    async def _dispatch(self, message: str | bytes, nursery: trio.Nursery) -> None:
        event = self._event_of(message)
        if event is None:
            return
        kind = event["type"]
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
            log_sideband_error("realtime_error", event, self.call.counters)
        # Every other event type (and new ones OpenAI adds) is ignored.

    def _needs_hangup(self) -> bool:
        return self.close_code != 1000

    # -- tool outputs -------------------------------------------------------------------------

    async def _send_output_item(self, tool_call_id: str, output: dict[str, Any]) -> bool:
        item = {"type": "function_call_output", "call_id": tool_call_id, "output": json.dumps(output)}
        return await self._send({"type": "conversation.item.create", "item": item})

    async def _send_tool_output(self, tool_call_id: str, output: dict[str, Any]) -> bool:
        return await self._send_output_item(tool_call_id, output) and await self._continue_response()

    async def _continue_response(self) -> bool:
        return await self._send({"type": "response.create"})

    async def _tell_model(self, text: str) -> None:
        message = {"type": "message", "role": "system", "content": [{"type": "input_text", "text": text}]}
        await self._send({"type": "conversation.item.create", "item": message})
        await self._continue_response()

