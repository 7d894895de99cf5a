"""What every hostile-sideband test checks at its end: the call went on, or ended cleanly; nothing leaked.

A call that *goes on* proves it by answering a tool call after the hostile input (the model
gets ``tool_not_found`` for a tool nobody configured), then ends with the caller's hangup.  A
call that *ends* logs ``call_ended`` with a named reason.  Either way no actor crashed and no
slot, registry entry or sideband is left (``Driver.assert_no_leaks``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from supervisor.testing import SimulatedCall
    from tests.lifecycle.conftest import Driver


async def assert_call_goes_on(driver: Driver, call: SimulatedCall) -> dict[str, Any]:
    """A tool call is answered after the hostile input; the caller hangs up; no crash, no leak.

    Returns the call's ``GET /actors/{call_id}`` view from before the hangup.
    """
    tool_call_id = await driver.function_call(call, "no_such_tool", "{}")
    assert (await driver.tool_output(call, tool_call_id))["error"] == "tool_not_found"
    view: dict[str, Any] = (await driver.admin("GET", f"/actors/{call.call_id}")).json()
    ended = await driver.caller_hangup(call)
    assert ended["reason"] == "caller_hangup"
    await assert_clean(driver)
    return view


async def assert_call_ended(driver: Driver, call_id: str, reason: str) -> dict[str, Any]:
    """The call logged ``call_ended`` with ``reason``; no crash, no leak.  Returns the line."""
    ended = await driver.ended(call_id)
    assert ended["reason"] == reason, ended
    await assert_clean(driver)
    return ended


async def assert_clean(driver: Driver) -> None:
    assert driver.logs.events("call_actor_crashed") == []
    assert [line for line in driver.logs.lines if line.get("unregistered_event")] == []
    await driver.assert_no_leaks()
