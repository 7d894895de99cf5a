"""A far side that stops reading: every send to the sideband is bounded (SEND_TIMEOUT_S).

The simulated platform stops reading the call's client events (``stop_reading``); callvisor's
tool outputs (900 kB each, from the tenant's http tool) fill the websocket's queue and the TCP
buffers until a send blocks.  That send gives up after SEND_TIMEOUT_S: the call ends as
``sideband_stalled``, is hung up through REST, and nothing is left behind.
"""

from __future__ import annotations

from pathlib import Path

import httpx2
import trio
import trio.testing

from actors.session import SEND_TIMEOUT_S
from tests.lifecycle.conftest import Driver, ToolEndpoint
from tests.rig import WAIT_S, open_rig

TENANTS = """
tenants:
  - id: bulky
    phone_numbers: ["+18005550330"]
    state: {greeting_id: g, instruction_id: i}
    config:
      schema_version: 1
      tools:
        - kind: http
          name: lookup_order
          description: Look up an order.
          url: https://tools.acme.example/orders
          max_response_bytes: 1048576
    prompts: {greetings: {g: hello}, instructions: {i: help}}
"""

#: The tool's answer: big enough that a few outputs fill loopback's TCP buffers, under the
#: 1 MiB an http tool may answer.
ANSWER = "x" * 900_000


async def test_a_far_side_that_stops_reading_ends_the_call_as_stalled(
    tmp_path: Path, tool_endpoint: ToolEndpoint, mock_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "tenants.yaml"
    path.write_text(TENANTS, encoding="utf-8")
    tool_endpoint.reply = lambda request: httpx2.Response(200, text=ANSWER)
    env = {"CALLVISOR_TENANTS_FILE": str(path)}
    async with open_rig(env, tool_transport=httpx2.MockTransport(tool_endpoint.handle)) as rig:
        await stalls(Driver(rig))


async def stalls(tool_driver: Driver) -> None:
    call = await tool_driver.start("rtc_stalled", to="sip:+18005550330@sip.example.com")
    call.stop_reading()
    began = trio.current_time()
    with trio.fail_after(WAIT_S):
        for n in range(12):
            await call.function_call("lookup_order", '{"order_number": "A1"}', tool_call_id=f"call_{n}")
    abnormal = await tool_driver.log("sideband_closed_abnormally", "rtc_stalled")
    assert (abnormal["end_reason"], abnormal["close_code"]) == ("sideband_stalled", None)
    assert trio.current_time() - began >= SEND_TIMEOUT_S
    ended = await tool_driver.ended("rtc_stalled")
    assert ended["reason"] == "sideband_stalled"
    hangup = await tool_driver.request("hangup", "rtc_stalled")
    assert hangup.action == "hangup"
    call.resume_reading()
    await tool_driver.assert_no_leaks()
