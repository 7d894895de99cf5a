"""The PNG plots of docs/benchmarks.md (matplotlib, no display needed)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axis import Axis
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

OURS_COLOUR = "#1f77b4"
PEER_COLOUR = "#d62728"
GOAL_COLOUR = "#2ca02c"
HTTPLESS_COLOUR = "#17becf"
PLAINTEXT_COLOUR = "#7f7f7f"


_NICE = [m * 10.0**e for e in range(-2, 6) for m in (1, 2, 5)]


def _plain_log(axis: Axis) -> None:
    """Ticks of a log axis at 1-2-5 steps, written as plain numbers."""
    axis.set_major_locator(FixedLocator(_NICE))
    axis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _finite(values: list[float]) -> bool:
    return any(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def _present(results: dict[str, Any], keys: tuple[str, str], needed: str) -> list[tuple[dict[str, Any], str, str]]:
    """(data, label, colour) for callvisor's and the peer's results that have ``needed``."""
    labelled = ((keys[0], "callvisor (TLS)", OURS_COLOUR), (keys[1], "Agents-SDK peer (TLS)", PEER_COLOUR))
    found = []
    for key, label, colour in labelled:
        data = results.get(key)
        if isinstance(data, dict) and data.get(needed):
            found.append((data, label, colour))
    return found


def intake_sweep(results: dict[str, Any], path: Path) -> Path | None:
    runs = _present(results, ("intake", "peer_intake"), "sweep")
    plain = results.get("intake_plaintext")
    if isinstance(plain, dict) and plain.get("sweep"):
        runs.append((plain, "callvisor, plaintext", PLAINTEXT_COLOUR))
    if not runs:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    top = 0.0
    for data, label, colour in runs:
        sweep = data["sweep"]
        offered = [s["offered_per_s"] for s in sweep]
        top = max(top, *offered)
        left.plot(offered, [s["achieved_per_s"] for s in sweep], "o-", color=colour, label=label)
        right.plot(offered, [s["round_trip"]["p50_ms"] for s in sweep], "o--", color=colour, label=f"{label} p50")
        right.plot(offered, [s["round_trip"]["p99_ms"] for s in sweep], "s-", color=colour, label=f"{label} p99")
        sustained = data.get("sustained_per_s")
        if sustained:
            left.axvline(sustained, color=colour, linestyle=":", linewidth=1)
    left.plot([0, top], [0, top], color="grey", linewidth=0.8, label="offered = answered")
    left.set_xlabel("offered webhooks/s (open loop)")
    left.set_ylabel("answered webhooks/s")
    left.set_title("Throughput (dotted: sustained rate)")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    right.set_yscale("log")
    _plain_log(right.yaxis)
    right.set_xlabel("offered webhooks/s (open loop)")
    right.set_ylabel("webhook round trip, ms (log)")
    right.set_title("Round trip seen by the sender")
    right.legend(fontsize=8)
    right.grid(alpha=0.3, which="both")
    fig.suptitle("Intake: signed realtime.call.incoming at rising rates")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def intake_summary(results: dict[str, Any], path: Path) -> Path | None:
    bars: list[tuple[str, float, float, float, str]] = []
    for key, label, colour in (("intake", "callvisor", OURS_COLOUR), ("peer_intake", "peer", PEER_COLOUR)):
        data = results.get(key)
        if not data:
            continue
        ceiling = data["ceiling"]["requests_per_s"]
        bars.append((f"{label}\nempty route", ceiling["median"], ceiling["min"], ceiling["max"], colour))
        confirm = data.get("confirm", {}).get("achieved_per_s")
        if confirm:
            bars.append((f"{label}\nsustained intake", confirm["median"], confirm["min"], confirm["max"], colour))
    plain = (results.get("intake_plaintext") or {}).get("confirm", {}).get("achieved_per_s")
    if plain:
        bars.append(("callvisor\nplaintext intake", plain["median"], plain["min"], plain["max"], PLAINTEXT_COLOUR))
    if not bars:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    xs = range(len(bars))
    heights = [b[1] for b in bars]
    errors = [[b[1] - b[2] for b in bars], [b[3] - b[1] for b in bars]]
    ax.bar(xs, heights, color=[b[4] for b in bars], alpha=0.85, yerr=errors, capsize=6)
    for x, height in zip(xs, heights, strict=True):
        ax.annotate(f"{height:.0f}", (x, height), ha="center", va="bottom", xytext=(0, 8), textcoords="offset points")
    ax.set_xticks(list(xs), [b[0] for b in bars])
    ax.set_ylabel("requests/s (median, bars: min-max)")
    ax.set_title("Empty-route ceiling and sustained intake over TLS (grey: plaintext), same run")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def decision_cdf(results: dict[str, Any], path: Path) -> Path | None:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    drawn = False
    for key, label, colour in (("intake", "callvisor", OURS_COLOUR), ("peer_intake", "Agents-SDK peer", PEER_COLOUR)):
        half = (results.get(key) or {}).get("half_rate")
        if not half:
            continue
        samples = sorted(v for run in half["runs"] for v in run["decision_samples_ms"] if v > 0)
        if not samples:
            continue
        n = len(samples)
        ax.plot(samples, [(i + 1) / n for i in range(n)], color=colour, label=f"{label} at {half['rate_per_s']:g}/s (n={n})")
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.axvline(5.0, color=GOAL_COLOUR, linestyle="--", label="goal: p99 <= 5 ms")
    ax.axhline(0.99, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xscale("log")
    _plain_log(ax.xaxis)
    ax.set_xlabel("webhook received -> accept request sent, ms (log)")
    ax.set_ylabel("fraction of calls")
    ax.set_title("In-service decision overhead at half the sustained rate")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def concurrency(results: dict[str, Any], path: Path) -> Path | None:
    runs = _present(results, ("concurrency", "peer_concurrency"), "levels")
    httpless = results.get("concurrency_httpless")
    if isinstance(httpless, dict) and httpless.get("levels"):
        runs.insert(0, (httpless, "callvisor (TLS), http-less tool", HTTPLESS_COLOUR))
        runs = [
            (data, "callvisor (TLS), http tool" if label == "callvisor (TLS)" else label, colour)
            for data, label, colour in runs
        ]
    plain = results.get("concurrency_plaintext")
    if isinstance(plain, dict) and plain.get("levels"):
        runs.append((plain, "callvisor, plaintext, http-less tool", PLAINTEXT_COLOUR))
    if not runs:
        return None
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    (rss, lag), (tool, cpu) = axes
    for data, label, colour in runs:
        levels = data["levels"]
        calls = [lv["live_sidebands"] for lv in levels]
        rss.plot(calls, [lv["rss_per_call_kib"] for lv in levels], "o-", color=colour, label=label)
        tool.plot(calls, [lv["tool"]["round_trip"]["p99_ms"] for lv in levels], "o-", color=colour, label=f"{label} p99")
        tool.plot(calls, [lv["tool"]["round_trip"]["p50_ms"] for lv in levels], "o--", color=colour, label=f"{label} p50")
        cpu.plot(calls, [lv["cpu_ms_per_call_minute"] for lv in levels], "o-", color=colour, label=label)
        lags = [lv.get("loop_lag", {}).get("p99_ms", math.nan) for lv in levels]
        if _finite(lags):
            lag.plot(calls, lags, "o-", color=colour, label=f"{label}, steady")
        placing = [(lv.get("placing_loop_lag") or {}).get("p99_ms", math.nan) for lv in levels]
        if _finite(placing):
            lag.plot(calls, placing, "x--", color=colour, label=f"{label}, placing")
    rss.axhline(40, color=GOAL_COLOUR, linestyle="--", label="goal over TLS: 40 KiB")
    kib = [lv["rss_per_call_kib"] for data, _, _ in runs for lv in data["levels"] if (lv["rss_per_call_kib"] or 0) > 0]
    wide = bool(kib) and max(kib) > 10 * min(kib)  # the peer over TLS holds ~1 MiB per call
    for ax in (lag, cpu) if wide else (rss, lag, cpu):
        ax.set_ylim(bottom=0)
    if wide:
        rss.set_yscale("log")
        _plain_log(rss.yaxis)
    rss.set_title("RSS per live call above baseline (KiB" + (", log)" if wide else ")"))
    lag.axhline(10, color=GOAL_COLOUR, linestyle="--", label="goal, steady: 10 ms")
    lag.axhline(20, color=GOAL_COLOUR, linestyle=":", label="goal, placing: 20 ms")
    lag.set_title("callvisor event-loop lag p99 (ms, bucketed estimate)")
    tool.set_title("Tool round trip seen by the platform (ms)")
    tool.set_yscale("log")
    _plain_log(tool.yaxis)
    cpu.set_title("CPU per call: ms of CPU per call-minute")
    for ax in (rss, lag, tool, cpu):
        ax.set_xlabel("concurrent live calls")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle("Concurrent live calls in one process (one tool round trip per call per period)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def profile(results: dict[str, Any], path: Path) -> Path | None:
    data = results.get("profile")
    if not data or not data.get("inclusive_by_component"):
        return None
    rows = [r for r in data["self_by_component"] if r["share"] >= 0.01][:16]
    fig, ax = plt.subplots(figsize=(9, 5.5))
    names = [r["name"] for r in rows][::-1]
    shares = [r["share"] * 100 for r in rows][::-1]
    colours = [OURS_COLOUR if n.startswith("callvisor:") else "#7f7f7f" for n in names]
    ax.barh(names, shares, color=colours)
    for y, share in enumerate(shares):
        ax.annotate(f"{share:.1f}%", (share, y), va="center", xytext=(4, 0), textcoords="offset points", fontsize=8)
    ax.set_xlabel("% of busy CPU time (self time, by package)")
    load = data.get("load", {})
    ax.set_title(f"Where callvisor's CPU goes at {load.get('rate_per_s', '?')} webhooks/s (blue: our code)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_all(results: dict[str, Any], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    made = [
        intake_sweep(results, folder / "intake_sweep.png"),
        intake_summary(results, folder / "intake_summary.png"),
        decision_cdf(results, folder / "decision_overhead.png"),
        concurrency(results, folder / "concurrency.png"),
        profile(results, folder / "profile.png"),
    ]
    return [p for p in made if p is not None]
