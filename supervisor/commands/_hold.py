"""``callvisor demo --hold SECONDS``: two calls kept up after the scenarios, one in a slow tool.

While they are held the demo prints the live tree as the console draws it (from ``GET /actors``)
and the console's address, so that a person can open the page and watch; then it ends both calls
and prints the capacity, which must be back at zero.  Kept apart from the scenarios
(``_scenarios``) so that either changes without the other.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TextIO

import httpx2
import trio

from ..console import render_tree
from ..testing import Driver

#: The order number the held call looks up: its lookup runs until the hold ends.
SLOW_ORDER = "SLOW"
HOLD_WAIT_S = 20.0


class SlowOrders:
    """The example tenant's order lookup, where order ``SLOW`` answers only once released."""

    def __init__(self, answer: Callable[[httpx2.Request], httpx2.Response]) -> None:
        self._answer = answer
        self.arrived = trio.Event()
        self.released = trio.Event()

    async def handle(self, request: httpx2.Request) -> httpx2.Response:
        arguments = json.loads(request.content or b"{}")
        if SLOW_ORDER in (arguments.get("order_number"), arguments.get("order_id")):
            self.arrived.set()
            await self.released.wait()
        return self._answer(request)


async def hold_calls(demo: Driver, tool: SlowOrders, seconds: float, out: TextIO) -> bool:
    """Hold two calls (one running the slow tool) for ``seconds``, then end them; True when
    capacity came back to zero."""
    ids = ("rtc_hold_tool", "rtc_hold_quiet")
    with trio.fail_after(HOLD_WAIT_S):
        for call_id in ids:
            response = await demo.call(call_id)
            if response.json() != {"ok": True, "accepted": call_id}:
                out.write(f"held call {call_id} was not accepted: {response.text}\n")
                return False
            await demo.wait_session(call_id)
        await demo.platform.call(ids[0]).function_call("lookup_order", json.dumps({"order_number": SLOW_ORDER}))
        await tool.arrived.wait()
        tree = (await demo.admin("GET", "/actors")).json()
    out.write("\nholding two calls, one with a slow tool running; the live tree as the console shows it:\n\n")
    out.write(render_tree(tree))
    out.write("\nGET /actors (the held calls):\n")
    out.write(json.dumps(tree["calls"], indent=2) + "\n")
    out.write(f"\noperator console: {demo.admin_url}/  (open it now; holding for {seconds:g} s)\n")
    await trio.sleep(seconds)
    tool.released.set()
    with trio.fail_after(HOLD_WAIT_S):
        for call_id in ids:
            await demo.platform.call(call_id).caller_hangup()
            await demo.logs.wait_for("call_ended", call_id=call_id)
        capacity = (await demo.admin("GET", "/actors")).json()["capacity"]
    out.write(f"held calls ended: capacity {capacity['used']}/{capacity['limit']} slots in use\n")
    return bool(capacity["used"] == 0)
