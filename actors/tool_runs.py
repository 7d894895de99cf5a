"""The tool runs of one call's sideband session: one task per function call the model makes.

Each run is a task ``tool:NAME:CALL_ID`` in the call nursery, bounded by
:data:`TOOL_RUN_LIMIT_S` whatever the tool's own timeout.  A function ``call_id`` runs once;
failures are logged and returned to the model as an error output, and the call goes on.  After
``end_call`` the session hangs up once the goodbye has played; after ``transfer_call`` it sends
the refer, then waits (bounded) for the sideband to close.

The model's function calls are untrusted input, and bounded per call: at most
:data:`TOOL_RUNS_PER_CALL` run at once and :data:`TOOL_QUEUE_PER_CALL` wait for a run (each
holding at most ``MAX_ARGUMENT_CHARS`` of arguments); one past that is refused on sight with
the error output ``too_many_tool_calls``.  A function call is refused on sight too when its
arguments are not a string or too long; one without a usable ``call_id`` cannot be answered and
is dropped, and a ``call_id`` seen before is not run again.  Each of these is counted in the
call's session counters and logged (``tool_call_refused``) the first time in a call.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import trio
from attrs import frozen

from config.models import EndCallTool, TransferCallTool

from .errors import CallControlError, CallGoneError, ToolExecutionError
from .handle import CallHandle
from .log import log_event
from .sideband import excerpt
from .tools import CallAction, ToolResult, find_tool, parse_arguments, refuse_arguments, run_tool

if TYPE_CHECKING:
    from .call import CallEnv, CallPlan

#: Upper bound for one tool run, whatever its own timeout says.
TOOL_RUN_LIMIT_S = 60.0
#: How long a transfer's goodbye may play before the refer is sent anyway.
TRANSFER_GOODBYE_S = 10.0
#: Tool runs of one call at once; the next function calls wait in the queue.
TOOL_RUNS_PER_CALL = 8
#: Function calls of one call waiting for a run; one more is refused (``too_many_tool_calls``).
TOOL_QUEUE_PER_CALL = 32
#: The longest function ``call_id`` answered (OpenAI's are about 20 characters); it must also
#: be printable ASCII, as it names a task and goes into log lines.
MAX_TOOL_CALL_ID_CHARS = 128
#: Function call_ids remembered per call so that each runs once (the oldest are forgotten).
REMEMBERED_TOOL_CALLS = 256


@frozen
class _ToolCall:
    """One function call of the model, checked: a usable id, a name or None, argument text."""

    call_id: str
    name: str | None
    arguments: str

    @property
    def label(self) -> str:
        """The name as a task name and ``tools_running`` show it."""
        name = self.name
        return name[:64] if name and name.isascii() and name.isprintable() else "?"


def _usable_call_id(value: object) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= MAX_TOOL_CALL_ID_CHARS and value.isascii() and value.isprintable():
        return value
    return None


Mark = TypeVar("Mark")


class Goodbyes(Protocol[Mark]):
    """When a goodbye has played, as a runtime's sideband tells it (``actors.playback`` for
    Realtime's response events, ``actors.live_playback`` for GPT-Live's reflected audio)."""

    def mark(self) -> Mark:
        """A mark for :meth:`wait_goodbye`: the goodbye is what the model says after it."""
        ...

    def changed(self) -> None:
        """Wake every waiter (the session's close, say)."""
        ...

    async def wait_change(self) -> None: ...

    async def wait_goodbye(self, mark: Mark, timeout_s: float) -> None:
        """Wait, at most ``timeout_s``, until what the model said after ``mark`` has played."""
        ...


class ToolRuns:
    """The session's tool runs (a mixin of the session, which holds the rest of the state below).

    The events that carry a tool's output are the runtime's: its session provides
    :meth:`_send_output_item`, :meth:`_send_tool_output`, :meth:`_continue_response` and
    :meth:`_tell_model`.
    """

    #: The function call_ids already taken (made at the first: most calls have none), the
    #: function calls waiting for a run, and whether a refer is in flight (a session closing
    #: meanwhile was transferred).
    __slots__ = ("_seen_tool_calls", "_tool_queue", "transferring")

    call: CallHandle
    plan: CallPlan
    env: CallEnv
    playback: Goodbyes[Any]
    closed: bool
    transferring: bool
    _seen_tool_calls: dict[str, None] | None
    _tool_queue: deque[_ToolCall] | None

    async def _send(self, event: dict[str, Any]) -> bool:
        raise NotImplementedError  # the session's

    async def _send_output_item(self, tool_call_id: str, output: dict[str, Any]) -> bool:
        """Send one function call's output (not yet asking for the model's next response)."""
        raise NotImplementedError  # the runtime's

    async def _send_tool_output(self, tool_call_id: str, output: dict[str, Any]) -> bool:
        """Send a finished run's output, and ask for the next response when the runtime does."""
        raise NotImplementedError  # the runtime's

    async def _continue_response(self) -> bool:
        """Ask the model to go on now that outputs are in."""
        raise NotImplementedError  # the runtime's

    async def _tell_model(self, text: str) -> None:
        """Tell the model something happened (as the system would), and let it answer."""
        raise NotImplementedError  # the runtime's

    async def _take_tool_call(self, item: dict[str, Any], nursery: trio.Nursery) -> None:
        """Run, queue or refuse one completed ``function_call`` item from the sideband.

        Runs and queueing never wait; a refusal waits for its error output to be sent, which
        holds the sideband's reader meanwhile (and so the far side's next frames).
        """
        counters = self.call.counters
        raw_name = item.get("name")
        name = raw_name if isinstance(raw_name, str) else None
        tool_call_id = _usable_call_id(item.get("call_id"))
        if tool_call_id is None:
            counters["tool_calls_unanswerable"] += 1
            self._log_refusal("call_id_invalid", counters["tool_calls_unanswerable"], item.get("call_id"), name)
            return
        seen = self._seen_tool_calls
        if seen is None:
            seen = self._seen_tool_calls = {}
        if tool_call_id in seen:
            counters["duplicate_tool_calls"] += 1
            self._log_refusal("duplicate_call_id", counters["duplicate_tool_calls"], tool_call_id, name)
            return
        seen[tool_call_id] = None
        if len(seen) > REMEMBERED_TOOL_CALLS:
            del seen[next(iter(seen))]
        arguments = item.get("arguments")
        refused = refuse_arguments(name, arguments)
        if refused is not None:
            refused.tenant_id = self.plan.tenant_id
            self.env.hooks.tool_run(self._metric_label(name), refused.reason)
            await self._refuse(tool_call_id, self._failed(refused).output)
            return
        assert isinstance(arguments, str)  # refuse_arguments saw to it
        tool_call = _ToolCall(tool_call_id, name, arguments)
        queue = self._tool_queue
        if len(self.call.tools_running) < TOOL_RUNS_PER_CALL:
            self._start_run(tool_call, nursery)
        elif queue is None or len(queue) < TOOL_QUEUE_PER_CALL:
            if queue is None:
                queue = self._tool_queue = deque()
            queue.append(tool_call)
        else:
            counters["tool_calls_refused"] += 1
            self._log_refusal("too_many_tool_calls", counters["tool_calls_refused"], tool_call_id, name)
            self.env.hooks.tool_run(self._metric_label(name), "too_many_tool_calls")
            message = (
                f"{TOOL_RUNS_PER_CALL} tool calls are running and {TOOL_QUEUE_PER_CALL} waiting; "
                "call this tool again once some have answered"
            )
            await self._refuse(tool_call_id, {"ok": False, "error": "too_many_tool_calls", "message": message})

    def _start_run(self, tool_call: _ToolCall, nursery: trio.Nursery) -> None:
        # Counted as running from here, so that the bound holds before the task starts.
        self.call.tools_running[tool_call.call_id] = tool_call.label
        nursery.start_soon(self._run_tool, tool_call, nursery, name=f"tool:{tool_call.label}:{tool_call.call_id}")

    async def _refuse(self, tool_call_id: str, output: dict[str, Any]) -> None:
        """Send a refusal's error output; ask for a response only if no run will (none is left)."""
        if await self._send_output_item(tool_call_id, output) and not self.call.tools_running:
            await self._continue_response()

    def _log_refusal(self, reason: str, count: int, tool_call_id: object, name: str | None) -> None:
        if count == 1:  # the first of its kind in this call; the rest are counted
            log_event(
                logging.WARNING,
                "tool_call_refused",
                "a function call from the model was refused; further ones are only counted",
                reason=reason,
                tool_call_id=excerpt(tool_call_id, 140),
                tool_name=excerpt(name, 64),
                running=len(self.call.tools_running),
                queued=len(self._tool_queue or ()),
            )

    def _metric_label(self, name: str | None) -> str:
        """The metric label: only configured names, never the model's."""
        return name if any(tool.name == name for tool in self.plan.tools) and name is not None else "unknown"

    async def _run_tool(self, tool_call: _ToolCall, nursery: trio.Nursery) -> None:
        call = self.call
        tool_call_id, name = tool_call.call_id, tool_call.name
        call.counters["tool_calls"] += 1
        try:
            label = "unknown"  # the metric label: only configured names, never the model's
            try:
                tool = find_tool(self.plan.tools, name)
                label = tool.name
                args = parse_arguments(tool, tool_call.arguments)
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
            queue = self._tool_queue
            if queue and not self.closed and call.end_reason is None:
                self._start_run(queue.popleft(), nursery)

    def _failed(self, err: ToolExecutionError) -> ToolResult:
        log_event(logging.ERROR, err.event, "tool call failed; the model is told", error=err)
        return ToolResult(output={"ok": False, "error": err.reason, "message": err.message})

    async def _carry_out(self, tool: CallAction, mark: object) -> None:
        if isinstance(tool, EndCallTool):
            await self.playback.wait_goodbye(mark, tool.goodbye_timeout_s)
            self.call.request_end("end_call")
            return
        await self._transfer(tool, mark)

    async def _transfer(self, tool: TransferCallTool, mark: object) -> None:
        await self.playback.wait_goodbye(mark, TRANSFER_GOODBYE_S)
        # A session that closes while the refer is in flight ends as transferred.
        self.transferring = True
        try:
            await self.env.control.refer(self.call.call_id, target_uri=tool.target_uri, runtime=self.plan.runtime)
        except CallGoneError:
            self.call.request_end("caller_hangup")
            return
        except CallControlError as err:
            self.transferring = False
            log_event(logging.ERROR, err.event, "refer failed; the call continues", error=err)
            await self._tell_model("The transfer failed. Apologise and offer to help another way.")
            return
        log_event(logging.INFO, "call_transfer_requested", "transfer requested", target_uri=tool.target_uri)
        with trio.move_on_after(tool.close_timeout_s):
            while not self.closed:
                await self.playback.wait_change()
        self.call.request_end("transferred")

