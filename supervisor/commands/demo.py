"""``callvisor demo``: every intake and call-lifecycle scenario against the simulated platform.

Starts the simulated OpenAI platform and a real callvisor (``config/examples/tenants.yaml`` and
the GPT-Live tenant ``wonka-live`` of ``tenants-live.yaml``) on free loopback ports, over TLS as in production (call control over https, the sideband over wss,
the platform's test CA trusted through ``SSL_CERT_FILE``), places one call per scenario
(``_scenarios``), and prints a table: scenario, expected outcome, the HTTP response callvisor
gave, what the platform received, and the log events.
It ends with the live actor tree and the capacity, which must be back at zero.  With ``--hold
SECONDS`` it first holds two calls, one in a slow tool, and prints the tree and the operator
console's address while they are up (``_hold``).  Exit status 0
only when every scenario ended as expected.

The example tenant's http tool (``https://tools.acme.example/orders``) is answered by an
``httpx2.MockTransport``: order ``A1`` is found, order ``FAIL`` gets a 503.
"""

from __future__ import annotations

import json
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import TextIO

import httpx
import httpx2
import trio

from ..testing import (
    LogTap,
    WebhookSigner,
    new_secret,
    open_callvisor,
    open_platform,
    settings_for,
)
from ._hold import SlowOrders, hold_calls
from ._live_scenarios import LIVE_SCENARIOS, demo_tenants
from ._scenarios import SCENARIOS as REALTIME_SCENARIOS
from ._scenarios import Demo, Observed, Scenario

#: Every scenario: the Realtime tenants', then the GPT-Live tenant's beside them.
SCENARIOS: list[Scenario] = [*REALTIME_SCENARIOS, *LIVE_SCENARIOS]

SCENARIO_TIMEOUT_S = 20.0


def _order_endpoint(request: httpx2.Request) -> httpx2.Response:
    """The example tenant's order lookup: A1 is shipped, FAIL is an outage."""
    order = json.loads(request.content or b"{}").get("order_id")
    if order == "FAIL":
        return httpx2.Response(503, json={"error": "unavailable"})
    return httpx2.Response(200, json={"order_id": order, "status": "shipped"})


async def run_demo(out: TextIO = sys.stdout, hold_s: float | None = None) -> int:
    signer = WebhookSigner(new_secret())
    logs = LogTap()
    results: list[tuple[str, str, Observed]] = []
    with logs.installed(), tempfile.TemporaryDirectory(prefix="callvisor-demo-") as workdir:
        # Over TLS, as production: https call control and a wss sideband with a test CA's
        # certificate, trusted through SSL_CERT_FILE (the system bundle plus that CA).
        async with open_platform(tls=True) as platform:
            out.write(
                f"simulated OpenAI platform: {platform.base_url} and {platform.realtime_url}"
                f" (GPT-Live: {platform.live_url})\n"
                f"callvisor trusts it through SSL_CERT_FILE={platform.tls.trust_bundle if platform.tls else ''}\n\n"
            )
            tenants = demo_tenants(Path(workdir) / "tenants.yaml")
            settings = settings_for(
                platform,
                signer,
                env={
                    "CALL_SESSION_START_TIMEOUT_S": "2",
                    "CALLVISOR_TOOL_ALLOWED_HOSTS": "tools.acme.example",
                    "CALLVISOR_TENANTS_FILE": str(tenants),
                },
            )
            platform.audio_duration_s = 0.05
            orders = SlowOrders(_order_endpoint)
            async with (
                open_callvisor(settings, tool_transport=httpx2.MockTransport(orders.handle)) as info,
                httpx.AsyncClient(timeout=10.0) as http,
            ):
                demo = Demo(platform, signer, info, http, logs)
                for name, expected, scenario in SCENARIOS:
                    try:
                        with trio.fail_after(SCENARIO_TIMEOUT_S):
                            observed = await scenario(demo)
                    except Exception as exc:  # one scenario's failure is reported, not fatal
                        observed = Observed(problems=[f"{type(exc).__name__}: {exc}"])
                    results.append((name, expected, observed))
                failed = _print_table(results, out)
                held = hold_s is None or await hold_calls(demo, orders, hold_s, out)
                tree = (await http.get(f"{info.admin_url}/actors")).json()
    failed += 0 if held else 1
    out.write("\nlive actor tree after the demo (GET /actors):\n")
    out.write(json.dumps(tree, indent=2) + "\n")
    capacity = tree["capacity"]
    if capacity["used"] != 0 or tree["calls"]:
        failed += 1
        out.write("capacity NOT back at zero\n")
    else:
        out.write(f"capacity back at zero: {capacity['used']}/{capacity['limit']} slots in use\n")
    out.write(f"\n{len(results) - failed} of {len(results)} scenarios as expected\n")
    return 1 if failed else 0


COLUMNS = (
    ("scenario", 24),
    ("expected", 28),
    ("HTTP response", 40),
    ("platform received", 30),
    ("log events", 40),
    ("ok", 3),
)


def _print_table(results: list[tuple[str, str, Observed]], out: TextIO) -> int:
    """Print one row per scenario (cells wrapped to their column); return how many failed."""
    widths = [width for _, width in COLUMNS]

    def emit(cells: list[str]) -> None:
        wrapped = [textwrap.wrap(cell, width) or [""] for cell, width in zip(cells, widths, strict=True)]
        for i in range(max(len(lines) for lines in wrapped)):
            parts = [(lines[i] if i < len(lines) else "").ljust(w) for lines, w in zip(wrapped, widths, strict=True)]
            out.write(" | ".join(parts).rstrip() + "\n")

    emit([title for title, _ in COLUMNS])
    out.write("-+-".join("-" * w for w in widths) + "\n")
    for name, expected, seen in results:
        emit([name, expected, seen.http, seen.platform, seen.log, "NO" if seen.problems else "yes"])
        for problem in seen.problems:
            out.write(f"    !! {problem}\n")
        out.write("-+-".join("-" * w for w in widths) + "\n")
    return sum(1 for _, _, seen in results if seen.problems)
