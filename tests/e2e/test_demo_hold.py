"""``callvisor demo --hold SECONDS``: two calls held after the scenarios, the tree printed, then ended."""

from __future__ import annotations

import io

from supervisor.commands.demo import run_demo


async def test_the_demo_holds_two_calls_prints_their_tree_and_ends_them() -> None:
    """While held: the tree with a tool task and the console's address; after: capacity back at zero."""
    out = io.StringIO()
    assert await run_demo(out, hold_s=0) == 0
    text = out.getvalue()
    held = text[text.index("holding two calls"):]
    assert "├─ call:rtc_hold_tool  tenant acme-corp  live" in held
    assert "tools running: lookup_order" in held
    assert "│  ├─ tool:lookup_order:call_" in held
    assert "sideband reader (trio_websocket._impl.WebSocketConnection._reader_task)" in held
    assert "└─ call:rtc_hold_quiet  tenant acme-corp  live" in held
    assert '"call_id": "rtc_hold_tool"' in held  # GET /actors as it answered
    assert "operator console: http://127.0.0.1:" in held
    assert "held calls ended: capacity 0/100 slots in use" in held
    assert "capacity back at zero: 0/100 slots in use" in text
