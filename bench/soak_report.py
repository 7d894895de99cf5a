"""The soak's outputs: its health counts, soak.json, the figure, the page, the printed summary."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from bench.procs import Proc
from bench.report import clean, render_page
from bench.soak_load import Load
from bench.soak_plot import write_figure
from bench.stats import summary_ms

#: Lines of the child's stderr that mean something went wrong outside our own log events.
FOREIGN_TROUBLE = ("Traceback (most recent call last)", "Error in ASGI Framework")


def _log_events(proc: Proc) -> Counter[str]:
    counted: Counter[str] = Counter()
    with open(proc.stderr_path, errors="replace") as lines:
        for line in lines:
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            counted[f"{record.get('level')}:{record.get('event')}"] += 1
    return counted


def events(proc: Proc) -> dict[str, int]:
    """Every log event of the child, counted as ``LEVEL:event``."""
    return dict(sorted(_log_events(proc).items()))


def health(proc: Proc, exit_status: int | None, load: Load) -> dict[str, int]:
    """Counts that must all be 0 (the checks of the same names)."""
    counted = _log_events(proc)
    by_event: Counter[str] = Counter()
    for key, n in counted.items():
        by_event[key.split(":", 1)[1]] += n
    text = proc.stderr_path.read_text(errors="replace")
    outcomes = load.outcomes
    return {
        "call_actor_crashed in the log": by_event["call_actor_crashed"],
        "tracebacks and ASGI errors on stderr": sum(text.count(marker) for marker in FOREIGN_TROUBLE),
        "webhooks answered 500": outcomes["webhook:http_500"],
        "webhooks unanswered (timeout, connection lost)": outcomes["webhook:timeout"] + outcomes["webhook:connection_lost"],
        "accepted calls without call_ended": max(by_event["call_accepted"] - by_event["call_ended"], 0),
        "unexpected answers or call lives (see load.unexpected)": outcomes["unexpected"],
        "exit status after SIGTERM": 1 if exit_status is None else abs(exit_status),
    }


def load_summary(load: Load) -> dict[str, Any]:
    return {
        "placed": load.placed,
        "outcomes": dict(sorted(load.outcomes.items())),
        "endings": dict(sorted(load.endings.items())),
        "blips": load.blips,
        "tool_round_trip": summary_ms(load.tool_round_trips),
        "ledger_webhook_ids": load.settled_webhook_ids,
        "ledger_call_ids": load.settled_call_ids,
        "unexpected": load.unexpected,
    }


def write(result: dict[str, Any], out: Path, label: str = "") -> list[Path]:
    """``OUT/benchmarks/soak.json`` and ``soak.png`` (``soak-LABEL.*`` for a companion run);
    ``OUT/benchmarks.md`` re-rendered if its results.json exists (the page's Soak section is read
    from the soak JSON files)."""
    folder = out / "benchmarks"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"soak-{label}" if label else "soak"
    path = folder / f"{stem}.json"
    path.write_text(json.dumps(clean(result), indent=1) + "\n")
    written = [path, write_figure(result, folder / f"{stem}.png")]
    if (folder / "results.json").exists():
        written.append(render_page(out))
    return written


def summary(result: dict[str, Any]) -> str:
    verdict = result["verdict"]
    load = result["load"]
    lines = [
        f"soak: {'PASSED' if verdict['ok'] else 'FAILED'}: {load['placed']} calls placed in {result['wall_s']} s; "
        f"endings {load['endings']}; blips {len(load['blips'])}; other load on the machine "
        f"{result['foreign_load']['mean_cores']} cores (mean), {result['foreign_load']['max_cores']} (peak)",
    ]
    for check in verdict["checks"]:
        relation = ">=" if check["at_least"] else "<="
        lines.append(f"  {'ok  ' if check['ok'] else 'FAIL'} {check['check']}: {check['value']} ({relation} {check['limit']})")
    for what in load["unexpected"][:10]:
        lines.append(f"  unexpected: {what}")
    growth = result.get("memory_growth")
    if growth:
        lines.append("  tracemalloc, baseline -> end, top growth:")
        lines += [f"    {row['size_diff']:+,} B {row['count_diff']:+,} blocks  {row['where']}" for row in growth["top"][:8]]
    return "\n".join(lines)
