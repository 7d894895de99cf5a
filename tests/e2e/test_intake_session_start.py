"""An accepted call whose sideband never comes up: OPENAI_REALTIME_URL points at a server that
accepts TCP connections and never answers the websocket handshake.

The call must end cleanly whatever ends it (the session start timeout, an operator hangup):
OpenAI is told to hang up, the capacity slot is freed, and the half-open socket is closed.
"""

from __future__ import annotations

import gc
import json
import time
import warnings
from typing import Any

import pytest
import trio
import trio.testing

from supervisor.testing import incoming_call_event
from tests.rig import ACME, WAIT_S, Rig


class SilentServer:
    """Accepts TCP connections, reads whatever comes, never answers; counts opens and closes."""

    def __init__(self) -> None:
        self.port = 0
        self.opened = 0
        self.closed = 0
        self._changed = trio.Event()

    async def handle(self, stream: trio.SocketStream) -> None:
        self._notify(opened=1)
        try:
            while await stream.receive_some():
                pass
        except trio.BrokenResourceError:
            pass
        finally:
            self._notify(closed=1)

    def _notify(self, *, opened: int = 0, closed: int = 0) -> None:
        self.opened += opened
        self.closed += closed
        self._changed.set()
        self._changed = trio.Event()

    async def wait_until(self, *, opened: int = 0, closed: int = 0) -> None:
        with trio.fail_after(WAIT_S):
            while self.opened < opened or self.closed < closed:
                await self._changed.wait()


@pytest.fixture
async def silent(nursery: trio.Nursery) -> SilentServer:
    server = SilentServer()
    listeners = await nursery.start(trio.serve_tcp, server.handle, 0)
    server.port = listeners[0].socket.getsockname()[1]
    return server


@pytest.fixture
def rig_env(silent: SilentServer) -> dict[str, str]:
    return {
        "OPENAI_REALTIME_URL": f"ws://127.0.0.1:{silent.port}/v1/realtime",
        "CALL_SESSION_START_TIMEOUT_S": "5",
    }


async def accept(rig: Rig, call_id: str) -> None:
    event = incoming_call_event(call_id, to=ACME)
    rig.platform.expect_call(call_id)
    body = json.dumps(event).encode()
    headers = rig.signer.sign(body, webhook_id=f"wh_{call_id}", timestamp=int(time.time()))
    response = await rig.post_raw(body, headers)
    assert response.json() == {"ok": True, "accepted": call_id}


def socket_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]


async def test_session_start_timeout_hangs_up_and_frees_the_slot(
    silent: SilentServer, rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """No handshake answer within CALL_SESSION_START_TIMEOUT_S: call_session_start_failed, hangup."""
    await accept(rig, "rtc_mute")
    await silent.wait_until(opened=1)

    line = await rig.wait_log("call_session_start_failed", call_id="rtc_mute")
    ended = await rig.wait_log("call_ended", call_id="rtc_mute")
    await silent.wait_until(closed=1)

    assert line["level"] == "ERROR"
    assert line["tenant_id"] == "acme-corp"
    assert line["reason"] == "timeout"
    assert ended["reason"] == "session_start_failed"
    assert rig.actions("rtc_mute") == ["accept", "hangup"]
    with trio.fail_after(WAIT_S):
        tree: dict[str, Any] = (await rig.http.get(f"{rig.admin_url}/actors")).json()
    assert tree["capacity"]["used"] == 0
    assert tree["calls"] == []


@pytest.mark.parametrize("ended_by", ["session_start_timeout", "operator_hangup"])
async def test_call_ended_during_handshake_closes_the_socket(
    silent: SilentServer, rig: Rig, mock_clock: trio.testing.MockClock, ended_by: str
) -> None:
    """A call ended while its sideband handshake hangs closes that socket itself, no GC needed."""
    # trio-websocket's client does not close its TCP stream when cancelled mid-handshake; the
    # session must open and close the stream itself.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        await accept(rig, "rtc_hold")
        await silent.wait_until(opened=1)
        if ended_by == "operator_hangup":
            with trio.fail_after(WAIT_S):
                hangup = await rig.http.post(f"{rig.admin_url}/actors/rtc_hold/hangup")
            assert hangup.status_code == 202
        ended = await rig.wait_log("call_ended", call_id="rtc_hold")
        await silent.wait_until(closed=1)
        gc.collect()

    assert ended["reason"] == {
        "session_start_timeout": "session_start_failed",
        "operator_hangup": "operator_hangup",
    }[ended_by]
    assert rig.actions("rtc_hold") == ["accept", "hangup"]
    assert socket_warnings(caught) == []
