"""A sideband that pings after callvisor began closing it (found by the benchmarks' peer traffic).

trio-websocket 0.12 answers every ping with a pong, and wsproto refuses to send one once the
close has begun: the reader task dies with ``LocalProtocolError``.  A server that pings at the
wrong moment must end the call as what it was (here an operator hangup), never as a crash.  The
server here is a few lines of wsproto so that the ping can be put exactly after our close frame.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import trio
import trio.testing
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

if TYPE_CHECKING:
    from tests.lifecycle.conftest import OpenDriver

#: A server-to-client ping (FIN, opcode 9, no payload) and close 1000, as raw frames.
PING_FRAME = b"\x89\x00"
CLOSE_FRAME = b"\x88\x02\x03\xe8"


async def ping_after_close(closes_seen: list[int], stream: trio.SocketStream) -> None:
    """Accept the websocket (and say session.created), then answer the client's close frame with
    a ping before closing."""
    ws = WSConnection(ConnectionType.SERVER)
    async with stream:
        while True:
            data = await stream.receive_some()
            if not data:
                return
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, Request):
                    await stream.send_all(ws.send(AcceptConnection()))
                    await stream.send_all(ws.send(TextMessage(data='{"type": "session.created"}')))
                elif isinstance(event, CloseConnection):
                    closes_seen.append(event.code)
                    await stream.send_all(PING_FRAME + CLOSE_FRAME)
                    return


async def test_a_ping_after_our_close_frame_ends_the_call_cleanly(
    open_driver: OpenDriver, mock_clock: trio.testing.MockClock
) -> None:
    """Operator hangup, our close frame, the server's ping: call_ended operator_hangup, no crash, slot free."""
    closes_seen: list[int] = []
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, partial(ping_after_close, closes_seen), 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        async with open_driver({"OPENAI_REALTIME_URL": f"ws://127.0.0.1:{port}/v1/realtime"}) as driver:
            response = await driver.rig.call("rtc_late_ping")
            assert response.json() == {"ok": True, "accepted": "rtc_late_ping"}
            await driver.log("call_session_started", "rtc_late_ping")
            hangup = await driver.admin("POST", "/actors/rtc_late_ping/hangup")
            assert hangup.status_code == 202
            ended = await driver.ended("rtc_late_ping")
            assert ended["reason"] == "operator_hangup"
            assert closes_seen == [1000]  # our close frame went out before the ping came
            assert driver.logs.events("call_actor_crashed") == []
            assert driver.platform.actions("rtc_late_ping") == ["accept", "hangup"]
            await driver.assert_no_leaks()
        nursery.cancel_scope.cancel()
