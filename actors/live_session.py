"""A GPT-Live call's session, until the Live sideband exists: a clean, visible failure.

The Live sideband (attach at ``{OPENAI_LIVE_URL}/sessions/{session_id}/attach``, its events and
tools) is not built yet.  An accepted Live call must not sit silent holding a slot, so its
session ends at once: ``call_session_start_failed`` with reason ``runtime_not_available``, the
call hung up on the Live path (shielded, bounded), ``call_ended`` with reason
``session_start_failed``; the actor's scope then frees the slot.  No sideband is opened.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from .errors import CallControlError, CallGoneError
from .handle import CallHandle
from .log import log_event
from .runtime import LIVE

if TYPE_CHECKING:
    from .call import CallEnv, CallPlan

#: The ``call_session_start_failed`` reason of a Live call while its session is not built.
NOT_AVAILABLE = "runtime_not_available"


async def run_live_session(call: CallHandle, plan: CallPlan, env: CallEnv) -> None:
    """End the accepted Live ``call`` as a failed session start (see the module docstring)."""
    call.state = "starting_session"
    log_event(
        logging.ERROR,
        "call_session_start_failed",
        "GPT-Live sessions are not available in this release; hanging up",
        reason=NOT_AVAILABLE,
        detail="the GPT-Live sideband is not implemented yet",
        runtime=plan.runtime.name,
    )
    call.request_end("session_start_failed")
    call.state = "ending"
    control = env.control
    with trio.move_on_after(control.timeout_s + 2.0, shield=True):
        try:
            await control.hangup(call.call_id, runtime=LIVE)
        except CallGoneError:
            pass
        except CallControlError as err:
            log_event(logging.ERROR, err.event, "hangup failed", error=err)
    reason = call.end_reason or "session_start_failed"
    started = call.accepted_at if call.accepted_at is not None else call.received_at
    duration_s = round(trio.current_time() - started, 3)
    log_event(logging.INFO, "call_ended", "call ended", reason=reason, duration_s=duration_s, runtime="live")
    env.hooks.ended(call, reason=reason, duration_s=duration_s)
