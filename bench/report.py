"""Writing the results: docs/benchmarks/results.json, the plots, and docs/benchmarks.md."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench import plots, sections
from bench.doc import render
from bench.soak_doc import SOAK_FIGURE


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
    return [results_path, *images, _write_page(data, [p.name for p in images], out)]


def render_page(out: Path) -> Path:
    """``OUT/benchmarks.md`` again from the saved results.json (and soak.json), plots untouched:
    what ``make soak`` runs after writing its own results."""
    folder = out / "benchmarks"
    data = json.loads((folder / "results.json").read_text())
    images = sorted(p.name for p in folder.glob("*.png") if not p.name.startswith(SOAK_FIGURE.removesuffix(".png")))
    return _write_page(data, images, out)


def _write_page(data: dict[str, Any], images: list[str], out: Path) -> Path:
    folder = out / "benchmarks"
    before_path = folder / "before.json"
    before = json.loads(before_path.read_text()) if before_path.exists() else None
    soak_path = folder / "soak.json"
    soak = json.loads(soak_path.read_text()) if soak_path.exists() else None
    if soak is not None:
        soak["companions"] = {
            path.stem.removeprefix("soak-"): json.loads(path.read_text()) for path in sorted(folder.glob("soak-*.json"))
        }
    page = out / "benchmarks.md"
    page.write_text(render(data, images, before, soak, sections.read(out)))
    return page


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
