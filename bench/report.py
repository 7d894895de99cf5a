"""Writing the results: docs/benchmarks/results.json, the plots, and docs/benchmarks.md."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench import plots, sections
from bench.doc import render


def clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None, tuples lists, float keys strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def write_report(results: dict[str, Any], out: Path) -> list[Path]:
    folder = out / "benchmarks"
    folder.mkdir(parents=True, exist_ok=True)
    data = clean(results)
    results_path = folder / "results.json"
    results_path.write_text(json.dumps(data, indent=1) + "\n")
    images = plots.write_all(results, folder)
    before_path = folder / "before.json"
    before = json.loads(before_path.read_text()) if before_path.exists() else None
    page = out / "benchmarks.md"
    page.write_text(render(data, [p.name for p in images], before, sections.read(out)))
    return [results_path, *images, page]


def profile_tables(summary: dict[str, Any], limit: int = 15) -> str:
    """The profile as Markdown tables (also printed by ``python -m bench profile``)."""
    lines = [
        f"Busy {summary.get('busy_s')} s of {summary.get('wall_s')} s wall "
        f"(idle in epoll {summary.get('idle_s')} s); load: {summary.get('load', {})}",
        "",
        "| package (self time) | share of busy CPU |",
        "|---|---:|",
    ]
    for row in summary.get("self_by_component", [])[:limit]:
        lines.append(f"| {row['name']} | {row['share'] * 100:.1f}% |")
    lines += ["", "| our function (inclusive, callees counted) | share of busy CPU |", "|---|---:|"]
    for row in summary.get("inclusive_ours", [])[:limit]:
        lines.append(f"| `{row['name']}` | {row['share'] * 100:.1f}% |")
    lines += ["", "| function (self time) | package | share |", "|---|---|---:|"]
    for row in summary.get("top_self", [])[:limit]:
        lines.append(f"| `{row['name']}` | {row['component']} | {row['share'] * 100:.1f}% |")
    return "\n".join(lines)
