"""The tool runs of one call's sideband session: one task per function call the model makes.

Each run is a task ``tool:NAME:CALL_ID`` in the call nursery, bounded by
:data:`TOOL_RUN_LIMIT_S` whatever the tool's own timeout.  A function ``call_id`` runs once;
failures are logged and returned to the model as an error output, and the call goes on.  After
``end_call`` the session hangs up once the goodbye has played; after ``transfer_call`` it sends
the refer, then waits (bounded) for the sideband to close.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import trio

from config.models import EndCallTool, TransferCallTool

from .errors import CallControlError, CallGoneError, ToolExecutionError
from .handle import CallHandle
from .log import log_event
from .playback import Playback
from .tools import CallAction, ToolResult, find_tool, parse_arguments, run_tool

if TYPE_CHECKING:
    from .call import CallEnv, CallPlan

#: Upper bound for one tool run, whatever its own timeout says.
TOOL_RUN_LIMIT_S = 60.0
#: How long a transfer's goodbye may play before the refer is sent anyway.
TRANSFER_GOODBYE_S = 10.0


class ToolRuns:
    """The session's tool runs (a mixin of the session, which holds the rest of the state below)."""

    #: The function call_ids already run (made at the first: most calls have none), and
    #: whether a refer is in flight (a session closing meanwhile was transferred).
    __slots__ = ("_seen_tool_calls", "transferring")

    call: CallHandle
    plan: CallPlan
    env: CallEnv
    playback: Playback
    closed: bool
    transferring: bool
    _seen_tool_calls: set[str] | None

    async def _send(self, event: dict[str, Any]) -> bool:
        raise NotImplementedError  # the session's

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
            mark = self.playback.mark()
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
            await self.playback.wait_goodbye(mark, tool.goodbye_timeout_s)
            self.call.request_end("end_call")
            return
        await self._transfer(tool, mark)

    async def _transfer(self, tool: TransferCallTool, mark: int) -> None:
        await self.playback.wait_goodbye(mark, TRANSFER_GOODBYE_S)
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
                await self.playback.wait_change()
        self.call.request_end("transferred")

