"""The fault matrix, http tools: an endpoint that hangs, answers 50 MiB, or redirects.

The endpoint is a real HTTP server on loopback (hypercorn), reached through callvisor's own
transport, not a mock transport: the cap on the answer's size is the transport's.  Each row of
``faults_of("http tool")`` is checked against the row (tests/faults/matrix.py), then the call is
shown to go on (the model is told, the sideband stays up) and to end cleanly.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
import yaml
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import Response, request

from supervisor.commands.faults import Fault, faults_of
from supervisor.json_app import create_json_app
from tests.faults.matrix import TOOL, WAIT_S, check_documented, check_nothing_left
from tests.rig import ACME, open_rig

HUGE_BYTES = 50 * 2**20
CHUNK = 2**20
TOOL_TIMEOUT_S = 4.0


class ToolServer:
    """What the endpoint was asked and how much of the huge answer it got to send."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.huge_sent = 0


@asynccontextmanager
async def tool_server() -> AsyncIterator[tuple[str, ToolServer]]:
    """The endpoint: ``/hang`` never answers, ``/huge`` streams 50 MiB, ``/redirect`` is a 302."""
    seen = ToolServer()
    app = create_json_app("tests.faults.tool_endpoint")

    @app.post("/<path>")
    async def tool(path: str) -> Response:
        seen.paths.append(path)
        await request.get_data(as_text=False)
        if path == "hang":
            await trio.sleep_forever()
        if path == "huge":

            async def body() -> AsyncIterator[bytes]:
                while seen.huge_sent < HUGE_BYTES:
                    seen.huge_sent += CHUNK
                    yield b"x" * CHUNK

            return Response(body(), status=200, headers={"content-length": str(HUGE_BYTES)})
        return Response(b"", status=302, headers={"location": "/elsewhere"})

    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, app, config))
        yield binds[0], seen
        nursery.cancel_scope.cancel()


def tenants_with_tool(tmp_path: Path, url: str) -> Path:
    """acme-corp with one http tool at ``url``."""
    tenant: dict[str, Any] = {
        "id": "acme-corp",
        "phone_numbers": ["+18005551212"],
        "state": {"greeting_id": "g", "instruction_id": "i"},
        "config": {
            "schema_version": 1,
            "model": "gpt-realtime",
            "tools": [
                {
                    "kind": "http", "name": TOOL, "description": "Look up an order.", "url": url,
                    "timeout_s": TOOL_TIMEOUT_S,
                }
            ],
        },
        "prompts": {"greetings": {"g": "Hello."}, "instructions": {"i": "Help."}},
    }
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump({"tenants": [tenant]}))
    return path


PATHS = {"tool_hangs": "hang", "tool_answers_huge": "huge", "tool_redirects": "redirect"}


@pytest.mark.parametrize("fault", faults_of("http tool"), ids=lambda fault: fault.name)
async def test_http_tool_fault_ends_as_documented(
    fault: Fault, tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    """An http tool that hangs, floods or redirects: the model is told, the call goes on, then ends cleanly."""
    call_id = f"rtc_{fault.name}"
    async with tool_server() as (base, seen):
        tenants = tenants_with_tool(tmp_path, f"{base}/{PATHS[fault.name]}")
        async with open_rig({"CALLVISOR_TENANTS_FILE": str(tenants)}) as rig:
            response = await rig.call(call_id, to=ACME)
            await rig.wait_session(call_id)
            call = rig.platform.call(call_id)
            asked_at = trio.current_time()
            with trio.fail_after(WAIT_S):
                tool_call_id = await call.function_call(TOOL, '{"order_number": "A1"}')
                output = json.loads((await call.wait_tool_output(tool_call_id))["item"]["output"])
            assert output["ok"] is False
            assert output["error"] == fault.reason
            await check_documented(fault, rig, call_id, response)
            if fault.name == "tool_hangs":
                assert TOOL_TIMEOUT_S <= trio.current_time() - asked_at < TOOL_TIMEOUT_S + 2
            assert seen.paths == [PATHS[fault.name]]  # asked once; the redirect not followed
            assert seen.huge_sent < HUGE_BYTES
            # The call goes on: still live, the sideband up.
            view = await rig.admin("GET", f"/actors/{call_id}")
            assert view.json()["state"] == "live"
            assert call.live_connections == 1
            with trio.fail_after(WAIT_S):
                await call.caller_hangup()
                ended = await rig.logs.wait_for("call_ended", call_id=call_id)
            assert ended["reason"] == "caller_hangup"
            await check_nothing_left(rig)
