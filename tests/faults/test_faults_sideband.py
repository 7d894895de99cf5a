"""The fault matrix, sideband: a websocket that never comes up, or comes up and says nothing.

Each row of ``faults_of("sideband")`` is injected through the simulated platform
(``stall_handshake``, ``silent_after_handshake``, a sideband served with a CA callvisor does not
trust) and checked against the row (tests/faults/matrix.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
import trio
import trio.testing

from supervisor.commands.faults import Fault, faults_of
from supervisor.testing import PlatformTls, open_platform
from tests.faults.matrix import WAIT_S, check_documented, check_nothing_left
from tests.rig import ACME, Rig, open_rig

#: CALL_SESSION_START_TIMEOUT_S for these tests (below the platform's own 10 s handshake limit).
START_TIMEOUT_S = 5.0


@asynccontextmanager
async def rig_for(fault: Fault, call_id: str) -> AsyncIterator[Rig]:
    """A rig whose sideband misbehaves as ``fault`` says, for ``call_id``."""
    env = {"CALL_SESSION_START_TIMEOUT_S": str(START_TIMEOUT_S)}
    async with AsyncExitStack() as stack:
        if fault.name == "sideband_untrusted_certificate":
            stranger = await stack.enter_async_context(open_platform(tls=PlatformTls()))
            env["OPENAI_REALTIME_URL"] = stranger.realtime_url
        tls = fault.name in ("sideband_tls_handshake_stalls", "sideband_untrusted_certificate")
        rig = await stack.enter_async_context(open_rig(env, tls=tls))
        scripts = {
            "sideband_handshake_stalls": lambda p: p.stall_handshake(call_id=call_id),
            "sideband_tls_handshake_stalls": lambda p: p.stall_handshake(tls=True),
            "sideband_silent": lambda p: p.silent_after_handshake(call_id=call_id),
            "sideband_untrusted_certificate": lambda p: None,
        }
        script = scripts[fault.name]
        script(rig.platform)
        yield rig


@pytest.mark.parametrize("fault", faults_of("sideband"), ids=lambda fault: fault.name)
async def test_sideband_fault_ends_as_documented(fault: Fault, mock_clock: trio.testing.MockClock) -> None:
    """A sideband that never comes up, or never speaks, ends as its row of the fault matrix says."""
    call_id = f"rtc_{fault.name}"
    async with rig_for(fault, call_id) as rig:
        accepted_at = trio.current_time()
        response = await rig.call(call_id, to=ACME)
        await check_documented(fault, rig, call_id, response)
        ended_after = trio.current_time() - accepted_at
        if fault.reason == "timeout":  # the session start's own limit, not the platform's
            assert START_TIMEOUT_S <= ended_after < START_TIMEOUT_S + 2
        assert rig.platform.pending_scripts() == []
        await check_nothing_left(rig)


async def test_silent_sideband_gets_no_greeting_before_session_created(
    mock_clock: trio.testing.MockClock,
) -> None:
    """A sideband that never sent session.created never receives the greeting either."""
    async with open_rig({"CALL_SESSION_START_TIMEOUT_S": str(START_TIMEOUT_S)}) as rig:
        rig.platform.silent_after_handshake(call_id="rtc_mute")
        await rig.call("rtc_mute", to=ACME)
        with trio.fail_after(WAIT_S):
            await rig.logs.wait_for("call_ended", call_id="rtc_mute")
        assert rig.platform.sideband_events("rtc_mute") == []
