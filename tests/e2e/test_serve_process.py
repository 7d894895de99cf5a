"""``callvisor serve`` as a real process: start-up, a call, SIGTERM, drain, exit status 0.

The only tests that run on the real clock: the service is another process.  Every wait is
bounded.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import httpx
import trio

from supervisor.testing import (
    WebhookSigner,
    incoming_call_event,
    new_secret,
    open_platform,
    place_call,
)
from tests.serve_process import open_serve_process, serve_environment

ROOT = Path(__file__).resolve().parents[2]


async def test_sigterm_drains_live_calls_and_exits_zero() -> None:
    """SIGTERM: new calls are rejected as draining, the live call is hung up after the grace, exit 0."""
    signer = WebhookSigner(new_secret())
    async with open_platform() as platform:
        env = serve_environment(platform, signer, CALLVISOR_DRAIN_GRACE_S="1")
        async with open_serve_process(env) as service:
            process = service.process
            with trio.fail_after(30):
                started = await service.wait_for("service_started")
                public, admin = started["public"], started["admin"]
                async with httpx.AsyncClient(timeout=10) as http:
                    event = incoming_call_event("rtc_proc_live")
                    accepted = await place_call(public, signer, event, platform=platform, client=http)
                    assert accepted.json() == {"ok": True, "accepted": "rtc_proc_live"}
                    await service.wait_for("call_session_started", call_id="rtc_proc_live")
                    await platform.call("rtc_proc_live").wait_connected()

                    process.send_signal(signal.SIGTERM)
                    await service.wait_for("drain_started")
                    health = (await http.get(f"{public}/health")).json()
                    assert health["draining"] is True
                    assert (await http.get(f"{admin}/ready")).status_code == 503
                    late = await place_call(
                        public, signer, incoming_call_event("rtc_proc_late"), platform=platform, client=http
                    )
                    assert late.json() == {"ok": True, "rejected": "draining"}
                    assert platform.requests_for("rtc_proc_late")[0].body == {"status_code": 503}

                ended = await service.wait_for("call_ended", call_id="rtc_proc_live")
                assert ended["reason"] == "drain"
                assert platform.actions("rtc_proc_live") == ["accept", "hangup"]
                await service.wait_for("service_stopped")
                assert await process.wait() == 0
    assert not [line for line in service.raw if "Traceback" in line]


async def test_bad_settings_exit_two_without_starting() -> None:
    """Bad settings: exit status 2, one line per problem, nothing served."""
    env = {"PATH": os.environ.get("PATH", ""), "MAX_CONCURRENT_CALLS": "lots"}
    result = await trio.run_process(
        [sys.executable, "-m", "supervisor.commands.cli", "serve"], cwd=ROOT, env=env,
        capture_stdout=True, capture_stderr=True, check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert "callvisor: MAX_CONCURRENT_CALLS: expected a whole number >= 1, got 'lots'" in lines
    assert all(line.startswith("callvisor: ") for line in lines)
