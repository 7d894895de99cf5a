"""``callvisor_trio_tasks`` on GET /metrics: the tasks a live call adds, and their return to zero."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
import trio.testing

if TYPE_CHECKING:
    from tests.lifecycle.conftest import Driver, ToolEndpoint


async def _tasks(driver: Driver) -> float:
    value = (await driver.metrics()).value("callvisor_trio_tasks")
    assert value is not None
    return value


async def test_trio_tasks_count_a_calls_tasks_and_fall_back_when_it_ends(
    tool_driver: Driver, tool_endpoint: ToolEndpoint, mock_clock: trio.testing.MockClock
) -> None:
    """A call running a tool adds its actor, reader and tool run to callvisor_trio_tasks; after it ends the count is back."""
    # A first call opens the keep-alive connections (each a hypercorn task) the rest reuse.
    warm = await tool_driver.start("rtc_warm")
    await tool_driver.caller_hangup(warm)
    await tool_driver.assert_no_leaks()
    idle = await _tasks(tool_driver)

    tool_endpoint.hold = trio.Event()
    call = await tool_driver.start("rtc_tasks")
    await tool_driver.function_call(call, "lookup_order", '{"order_number": "A1"}')
    await tool_endpoint.wait_request()
    busy = await _tasks(tool_driver)
    # The actor, trio-websocket's reader and the tool run, at least (the tool's HTTP request may add its own).
    assert busy >= idle + 3

    tool_endpoint.hold.set()
    await tool_driver.caller_hangup(call)
    await tool_driver.assert_no_leaks()
    assert await _tasks(tool_driver) == idle
