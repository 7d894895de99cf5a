"""The fault matrix, call control: accept, reject and hangup that are slow, refused or cut off.

Each row of ``faults_of("call control")`` is injected through the simulated platform's scripts
(``delay``, ``fail``, ``drop``) or its TLS, into a callvisor of its own talking https to it, and
checked against the row (tests/faults/matrix.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio.testing

from supervisor.commands.faults import Fault, faults_of
from supervisor.testing import PlatformTls, SimulatedPlatform
from tests.faults.matrix import WAIT_S, check_documented, check_nothing_left
from tests.rig import ACME, UNROUTED, open_rig

#: Low enough that a 30 s delay is "slower than the timeout", in virtual time.
TIMEOUT_S = 1.5

SCRIPTS: dict[str, Callable[[SimulatedPlatform, str, str], None]] = {
    "slow": lambda platform, action, call_id: platform.delay(action, 30.0, call_id=call_id),
    "429": lambda platform, action, call_id: platform.fail(action, call_id=call_id, status=429),
    "5xx": lambda platform, action, call_id: platform.fail(action, call_id=call_id, status=503),
    "closed": lambda platform, action, call_id: platform.drop(action, call_id=call_id),
    "reset": lambda platform, action, call_id: platform.drop(action, call_id=call_id, abrupt=True),
}


@pytest.mark.parametrize("fault", faults_of("call control"), ids=lambda fault: fault.name)
async def test_call_control_fault_ends_as_documented(
    fault: Fault, tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    """A failing accept, reject or hangup ends as its row of the fault matrix says."""
    call_id = f"rtc_{fault.name}"
    env = {"CALLVISOR_CALL_CONTROL_TIMEOUT_S": str(TIMEOUT_S)}
    if fault.name == "accept_untrusted_certificate":
        # callvisor trusts the system store plus a stranger's CA, not the platform's
        env["SSL_CERT_FILE"] = str(PlatformTls().write_trust_bundle(tmp_path / "bundle.pem"))
    async with open_rig(env, tls=True) as driver:  # https, as OpenAI serves it
        action, _, kind = fault.name.partition("_")
        if action == "hangup":
            response = await driver.call(call_id, to=ACME)
            await driver.wait_session(call_id)
            SCRIPTS[kind](driver.platform, action, call_id)
            hangup = await driver.admin("POST", f"/actors/{call_id}/hangup")
            assert hangup.status_code == 202
        else:
            if kind in SCRIPTS:
                SCRIPTS[kind](driver.platform, action, call_id)
            response = await driver.call(call_id, to=ACME if action == "accept" else UNROUTED)
        await check_documented(fault, driver, call_id, response)
        assert driver.platform.pending_scripts() == []
        with trio.fail_after(WAIT_S):
            await check_nothing_left(driver)
