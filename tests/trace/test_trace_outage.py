"""``callvisor trace`` on the stderr of a real ``callvisor serve`` whose MongoDB is down."""

from __future__ import annotations

import socket
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
from tests.trace.tracing import statuses, traced


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_downtime_call_fails_step_6_and_goes_on(tmp_path: Path) -> None:
    """Store unreachable: step 6 failed with instructions_db_error, continued; 9 to 11 passed."""
    signer = WebhookSigner(new_secret())
    async with open_platform() as platform:
        env = serve_environment(
            platform, signer, CALLVISOR_TENANTS_FILE="",
            MONGODB_URI=f"mongodb://127.0.0.1:{_closed_port()}/", MONGODB_TIMEOUT_MS="500",
        )
        async with open_serve_process(env) as service, httpx.AsyncClient(timeout=10) as http:
            with trio.fail_after(30):
                started = await service.wait_for("service_started")
                response = await place_call(
                    started["public"], signer, incoming_call_event("rtc_trace_dead_db"),
                    platform=platform, client=http,
                )
                assert response.json() == {"ok": True, "accepted": "rtc_trace_dead_db"}
                await platform.call("rtc_trace_dead_db").wait_connected()
                await platform.call("rtc_trace_dead_db").caller_hangup()
                await service.wait_for("call_ended", call_id="rtc_trace_dead_db")
        log = tmp_path / "serve.log"
        log.write_text("\n".join(service.raw) + "\n")
    document = traced("rtc_trace_dead_db", log)
    assert statuses(document)["failed"] == [6]
    step = document["steps"][5]
    assert step["continued"] is True
    assert step["failure"]["error"]["reason"] == "db_timeout"
    assert statuses(document)["passed"] == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11]
    assert document["tenant_id"] == "unknown"
