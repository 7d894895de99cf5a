"""``callvisor demo`` as ``make demo`` runs it: every scenario as expected, over TLS."""

from __future__ import annotations

import io

from supervisor.commands.demo import SCENARIOS, run_demo


async def test_the_demo_passes_every_scenario_over_tls() -> None:
    """The platform serves https and wss; each scenario's row says yes; capacity ends at zero."""
    out = io.StringIO()
    assert await run_demo(out) == 0
    text = out.getvalue()
    first = text.splitlines()[0]
    assert first.startswith("simulated OpenAI platform: https://127.0.0.1:")
    assert " and wss://127.0.0.1:" in first
    assert "!!" not in text
    assert "capacity back at zero: 0/100 slots in use" in text
    assert text.rstrip().endswith(f"{len(SCENARIOS)} of {len(SCENARIOS)} scenarios as expected")
