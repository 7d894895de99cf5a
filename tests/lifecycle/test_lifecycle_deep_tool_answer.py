"""An http tool's answer is untrusted input: JSON nested past the limit is given to the model as text.

Found while sharing the webhook body's depth bound (actors/bounded_json.py): an answer nested
5,000 levels deep ended the call as ``call_actor_crashed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx2
import trio.testing

from actors.tools import MAX_RESULT_DEPTH

if TYPE_CHECKING:
    from tests.lifecycle.conftest import Driver, ToolEndpoint


async def test_an_http_tool_answer_nested_5000_deep_is_given_as_text(
    tool_driver: Driver, tool_endpoint: ToolEndpoint, mock_clock: trio.testing.MockClock
) -> None:
    """JSON nested 5,000 (or limit + 1) deep: the model gets it as text and the call goes on."""
    answers = [b"[" * n + b"]" * n for n in (5000, MAX_RESULT_DEPTH + 1)]
    tool_endpoint.reply = lambda _request: httpx2.Response(
        200, content=answers[len(tool_endpoint.requests) - 1], headers={"content-type": "application/json"}
    )
    call = await tool_driver.start("rtc_deep_answer")
    for answer in answers:
        tool_call_id = await tool_driver.function_call(call, "lookup_order", '{"order_number": "A1"}')
        output = await tool_driver.tool_output(call, tool_call_id)
        assert output == {"ok": True, "result": answer.decode()}
    ended = await tool_driver.caller_hangup(call)
    assert ended["reason"] == "caller_hangup"
    assert tool_driver.logs.events("call_actor_crashed") == []
    await tool_driver.assert_no_leaks()


async def test_an_http_tool_answer_at_the_depth_limit_is_given_as_json(
    tool_driver: Driver, tool_endpoint: ToolEndpoint, mock_clock: trio.testing.MockClock
) -> None:
    """JSON nested exactly to the limit is still handed to the model as JSON."""
    at_limit = b"[" * MAX_RESULT_DEPTH + b"]" * MAX_RESULT_DEPTH
    tool_endpoint.reply = lambda _request: httpx2.Response(200, content=at_limit)
    call = await tool_driver.start("rtc_answer_at_limit")
    tool_call_id = await tool_driver.function_call(call, "lookup_order", '{"order_number": "A1"}')
    output = await tool_driver.tool_output(call, tool_call_id)
    expected: list[object] = []
    for _ in range(MAX_RESULT_DEPTH - 1):
        expected = [expected]
    assert output == {"ok": True, "result": expected}
    await tool_driver.caller_hangup(call)
    await tool_driver.assert_no_leaks()
