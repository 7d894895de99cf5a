"""The Soak section of docs/benchmarks.md, rendered from docs/benchmarks/soak.json (``make soak``).

:func:`bench.doc.render` includes it whenever soak.json exists, so that ``make bench`` and
``python -m bench render`` keep it; the soak re-renders the page after its run.
"""

from __future__ import annotations

from typing import Any

SOAK_FIGURE = "soak.png"
MIB = 1024 * 1024
#: supervisor/service.py: GC_FULL_EVERY and GC_YOUNG_PERIOD_S (not imported: the page renders
#: without the service's dependencies).
PRODUCTION_FULL_EVERY = 600
YOUNG_PERIOD_S = 0.5


def _n(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _trend_rows(trends: dict[str, Any]) -> list[str]:
    rows = ["| under load, after the warm-up | first | last | max | slope per minute | drift (last third - first third, medians) |", "|---|---:|---:|---:|---:|---:|"]
    scales = {"rss": ("RSS (MiB)", MIB)}
    for key, trend in trends.items():
        label, scale = scales.get(key, (key, 1))
        cells = [trend.get(k) for k in ("first", "last", "max", "slope_per_min", "drift")]
        shown = [_n(None if v is None else v / scale, 3 if key == "rss" else 2) for v in cells]
        rows.append(f"| {label} | {' | '.join(shown)} |")
    return rows


def _idle_rows(result: dict[str, Any]) -> list[str]:
    rows = ["| idle | at the start | baseline (after the warm-up) | end |", "|---|---:|---:|---:|"]
    keys = (("rss", "RSS (MiB)"), ("fds", "open descriptors"), ("tasks", "trio tasks"), ("calls", "live calls"),
            ("capacity_used", "slots held"), ("sidebands", "sidebands open at the platform"))
    for key, label in keys:
        cells = []
        for name in ("idle_start", "baseline", "end"):
            value = (result.get(name) or {}).get(key)
            cells.append(_n(value / MIB, 2) if key == "rss" and value is not None else _n(value))
        rows.append(f"| {label} | {' | '.join(cells)} |")
    return rows


def _cadence(settings: dict[str, Any]) -> str:
    every = settings.get("gc_full_every") or PRODUCTION_FULL_EVERY
    production = " (the production cadence)" if every == PRODUCTION_FULL_EVERY else ""
    return f"at most one full collection per {every} young ones, every {_n(every * YOUNG_PERIOD_S / 60, 1)} minutes or more{production}"


def _memory(result: dict[str, Any]) -> list[str]:
    growth = result.get("warmup_growth")
    rss = result["verdict"]["trends"]["rss"]
    if not growth or not growth.get("bytes_per_call"):
        return []
    per_s = growth["calls"] / max(growth["to_t"] - growth["from_t"], 1e-9)
    per_call = growth["bytes_per_call"]
    return [
        f"**Memory.** Before the child's first full garbage collection RSS rose {_n(per_call / 1024)} KiB per decided call"
        f" ({_n(growth['rss_grown'] / MIB)} MiB over {_n(growth['calls'])} calls, {_n(growth['from_t'], 0)} s to"
        f" {_n(growth['to_t'], 0)} s); after the warm-up, under the same load, it moved"
        f" {_n(_div(rss['slope_per_min'], 1024), 1)} KiB a minute (drift {_n(_div(rss['drift'], MIB), 2)} MiB).",
        "What each call leaves is garbage in reference cycles (the sideband's TLS stream among it), which only a full",
        "collection frees; the memory freed is then reused, so RSS levels off once a cycle's garbage fits in what the",
        f"previous collection freed. This run's child ran {_cadence(result['settings'])}",
        "(`--gc-full-every`, through bench/soak_child.py), so that several cycles fit after the warm-up. At the",
        f"production cadence (about {_n(PRODUCTION_FULL_EVERY * YOUNG_PERIOD_S / 60, 0)} minutes) the working size holds"
        f" about that long a share of garbage: at this run's {_n(per_s)} calls/s some"
        f" {_n(per_call * per_s * PRODUCTION_FULL_EVERY * YOUNG_PERIOD_S / MIB, 0)} MiB, at 100 calls/s some"
        f" {_n(per_call * 100 * PRODUCTION_FULL_EVERY * YOUNG_PERIOD_S / MIB, 0)} MiB.",
        "",
    ]


def _companions(result: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for label, run in (result.get("companions") or {}).items():
        verdict = run["verdict"]
        failed = [c["check"] for c in verdict["checks"] if not c["ok"]]
        growth = run.get("warmup_growth") or {}
        out += [
            f"### Companion run: `{label}`",
            "",
            f"`python -m bench.soak --gc-full-every {run['settings'].get('gc_full_every', 0)} --label {label}` ({(run.get('machine') or {}).get('date')}, commit {run.get('commit') or 'n/a'}):"
            f" {_n(run['settings']['seconds'], 0)} s,"
            f" {_n(run['load']['placed'])} calls, the child running {_cadence(run['settings'])};"
            f" RSS rose {_n((growth.get('bytes_per_call') or 0) / 1024)} KiB per call before its first full collection."
            + (f" Checks that failed: {'; '.join(failed)}." if failed else " Every check passed.")
            + (f" {run['note']}" if run.get("note") else ""),
            "",
            f"![soak {label}](benchmarks/soak-{label}.png)",
            "",
        ]
    return out


def _div(value: float | None, by: float) -> float | None:
    return None if value is None else value / by


def soak_section(result: dict[str, Any] | None) -> list[str]:
    if not result:
        return []
    s = result["settings"]
    load = result["load"]
    verdict = result["verdict"]
    machine = result.get("machine") or {}
    foreign = result.get("foreign_load") or {}
    outcomes = load["outcomes"]
    webhooks = {k.split(":", 1)[1]: v for k, v in outcomes.items() if k.startswith("webhook:")}
    out = [
        "## Soak",
        "",
        "<!-- From docs/benchmarks/soak.json, written by `make soak` (python -m bench.soak); edit bench/soak_doc.py. -->",
        "",
        f"Measured {machine.get('date')} at commit {result.get('commit') or 'n/a'}: `callvisor serve` (a process of its own, over TLS to the simulated",
        f"platform) held at `MAX_CONCURRENT_CALLS={s['capacity']}` for {_n(s['seconds'], 0)} s, the first "
        f"{_n(result.get('warmup_ended_s'), 0)} s a warm-up (at least {_n(s['warmup_s'], 0)} s, then until the child had run {s.get('warmup_collections', 1)} full garbage collections), sampled every {_n(s['interval_s'], 0)} s. **{'Passed' if verdict['ok'] else 'FAILED'}**"
        f" ({sum(c['ok'] for c in verdict['checks'])} of {len(verdict['checks'])} checks).",
        f"The machine was shared: other processes kept {_n(foreign.get('mean_cores'), 2)} cores busy on average"
        f" (peak {_n(foreign.get('max_cores'), 2)}) of its {machine.get('cores')}; the figures that matter here are",
        "growth and what is left, not throughput.",
        "",
        f"![soak](benchmarks/{SOAK_FIGURE})",
        "",
        f"Load: {_n(load['placed'])} calls placed, kept at capacity (one call a second more is offered when the slots",
        f"are full); webhook answers {', '.join(f'{k} {_n(v)}' for k, v in sorted(webhooks.items()))};",
        f"{_n(outcomes.get('duplicate_sent:same_id', 0))} duplicates under the same webhook-id and "
        f"{_n(outcomes.get('duplicate_sent:new_id', 0))} under a new one; {_n(outcomes.get('redelivered', 0))} redeliveries after a 503;",
        f"{_n(outcomes.get('tool_calls', 0))} http tool calls (round trip p50 {_n(load['tool_round_trip'].get('p50_ms'))} ms,"
        f" p99 {_n(load['tool_round_trip'].get('p99_ms'))} ms); endings {', '.join(f'{k} {_n(v)}' for k, v in load['endings'].items())}.",
        f"Blips: {len(load['blips'])} bursts of failing accepts at the simulated platform ("
        + ", ".join(f"{b['kind']} x{b['accepts']} at {_n(b['t'], 0)} s" for b in load["blips"])
        + "). The tenants come from a file, read once at start (no reload), so a tenant-store outage cannot be",
        "staged without MongoDB; the blips hit the other store a call's decision waits on, OpenAI's call control, which",
        "callvisor answers with a 503 that OpenAI (here the soak) redelivers.",
        "",
        f"The dedup ledgers were bounded at {_n(s['ledger_entries'])} entries each in the child (`bench/soak_child.py`; production:",
        "100,000), so that they are full within the warm-up (see the checks); over the whole run the soak settled",
        f"{_n(load['ledger_webhook_ids'])} webhook-ids and {_n(load['ledger_call_ids'])} call_ids. At the production bound they fill in hours at this rate and take",
        "their documented ceiling (docs/operations.md); any growth left after the warm-up here is not theirs.",
        "",
        *_memory(result),
        *_trend_rows(verdict["trends"]),
        "",
        *_idle_rows(result),
        "",
        "| check | measured | limit | |",
        "|---|---:|---:|---|",
    ]
    for check in verdict["checks"]:
        relation = ">=" if check["at_least"] else "<="
        out.append(f"| {check['check']} | {_n(check['value'], 3)} | {relation} {_n(check['limit'])} | {'ok' if check['ok'] else '**failed**'} |")
    end_connections = (result.get("end") or {}).get("connections") or {}
    out += [
        "",
        "The end's TCP sockets by role: " + (", ".join(f"{k} {v}" for k, v in end_connections.items()) or "none") + ".",
        "",
    ]
    growth = result.get("memory_growth")
    if growth:
        out += [
            f"tracemalloc (`--tracemalloc`), baseline to end: traced {_n(growth['traced_bytes_baseline'] / MIB, 2)} MiB ->"
            f" {_n(growth['traced_bytes_end'] / MIB, 2)} MiB; the lines that grew most:",
            "",
            "| where | bytes | blocks |",
            "|---|---:|---:|",
            *[f"| `{row['where']}` | {row['size_diff']:+,} | {row['count_diff']:+,} |" for row in growth["top"][:10]],
            "",
        ]
    return out + _companions(result)
