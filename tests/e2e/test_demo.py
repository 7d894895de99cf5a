"""``callvisor demo`` as ``make demo`` runs it: every scenario as expected, over TLS, then two
calls held (``--hold 0``), their tree printed, and ended."""

from __future__ import annotations

import io

from supervisor.commands.demo import SCENARIOS, run_demo


async def test_the_demo_passes_every_scenario_over_tls() -> None:
    """The platform serves https and wss; each scenario's row says yes; capacity ends at zero."""
    out = io.StringIO()
    assert await run_demo(out, hold_s=0) == 0
    text = out.getvalue()
    first = text.splitlines()[0]
    assert first.startswith("simulated OpenAI platform: https://127.0.0.1:")
    assert " and wss://127.0.0.1:" in first
    assert "!!" not in text
    assert "capacity back at zero: 0/100 slots in use" in text
    assert text.rstrip().endswith(f"{len(SCENARIOS)} of {len(SCENARIOS)} scenarios as expected")
    # The held calls: the tree with a tool task and the console's address, then capacity at zero.
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
