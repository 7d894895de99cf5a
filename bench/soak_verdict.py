"""The soak's verdict: does anything grow after the warm-up, is anything left at the end.

Growth is judged on the samples taken under load after the warm-up (the quiesces left out),
two ways, each with its own limit: the least-squares **slope** over them, per minute, and the
**drift**, the median of their last third minus the median of their first third (robust to
the sawtooth of the garbage collector and to a single spike).  What is left is judged on the
idle samples: after the warm-up (the baseline, every call ended) and at the end (the same).

The limits come from the soak's own runs on the shared 2-core machine (50 slots, about 7 calls
a second). A clean run (after the TLS session fix, commit f558b83): RSS rose once by 1.1 MiB
about five minutes in, then moved 20 KiB in four minutes: slope 200 KiB/min over the window,
drift 1.08 MiB. Runs with a leak: CPython 3.11's session copy (6.5 KiB a call) gave 2,640 KiB/min
and 11 MiB; the issue's 3 KiB per webhook would give some 1,400 KiB/min. Hence 256 KiB/min and
2 MiB: one step of heap growth passes, half a KiB per call fails. Descriptors and tasks moved
within +-3 and +-6 of their medians; slots and calls are held at the capacity.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import attrs

MIB = 1024 * 1024
#: The child's client connections kept in its pool (call control, the http tool): a connection
#: the server closed stays there, a descriptor, until its next use reaps it.
POOLED = ("to_rest", "to_tool")
#: actors/transport.py MAX_IDLE_PER_ORIGIN.
POOL_BOUND = 64


@attrs.frozen(kw_only=True)
class Limits:
    #: RSS slope, KiB per minute (at ~7 calls/s, 256 KiB/min is 0.6 KiB per call).
    rss_slope_kib_per_min: float = 256.0
    #: RSS drift between the first and last third, MiB.
    rss_drift_mib: float = 2.0
    #: Open descriptors: drift under load, and the end over the baseline (both idle).
    fds_drift: float = 4.0
    fds_end_over_baseline: int = 4
    #: trio tasks: drift under load, and the end over the baseline.
    tasks_drift: float = 10.0
    tasks_end_over_baseline: int = 2
    #: Slots and live calls: drift under load, as a share of the capacity.
    slots_drift_share: float = 0.1
    #: "At capacity": the mean share of slots held under load, at least.
    min_held_share: float = 0.8


def slope_per_min(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (t seconds, value) points, per minute; None for fewer than 3."""
    if len(points) < 3:
        return None
    ts = [t for t, _ in points]
    vs = [v for _, v in points]
    mean_t, mean_v = statistics.fmean(ts), statistics.fmean(vs)
    var = sum((t - mean_t) ** 2 for t in ts)
    if var == 0:
        return None
    return 60.0 * sum((t - mean_t) * (v - mean_v) for t, v in points) / var


def drift(values: Sequence[float]) -> float | None:
    """Median of the last third minus median of the first third; None for fewer than 6."""
    if len(values) < 6:
        return None
    third = len(values) // 3
    return statistics.median(values[-third:]) - statistics.median(values[:third])


def trend(samples: Sequence[dict[str, Any]], key: str) -> dict[str, Any]:
    points = [(float(s["t"]), float(s[key])) for s in samples if s.get(key) is not None]
    values = [v for _, v in points]
    return {
        "samples": len(points),
        "slope_per_min": _round(slope_per_min(points)),
        "drift": _round(drift(values)),
        "first": _round(values[0] if values else None),
        "last": _round(values[-1] if values else None),
        "max": _round(max(values) if values else None),
    }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _check(checks: list[dict[str, Any]], name: str, value: float | None, limit: float, *, at_least: bool = False) -> None:
    ok = value is not None and (value >= limit if at_least else value <= limit)
    checks.append({"check": name, "value": value, "limit": limit, "at_least": at_least, "ok": ok})


def judge(
    samples: Sequence[dict[str, Any]], baseline: dict[str, Any], end: dict[str, Any], capacity: int,
    health: dict[str, int], ledger_entries: int, limits: Limits = Limits(),
) -> dict[str, Any]:
    """Trends of the load samples, the checks with their limits, and ``ok`` when all pass.

    ``ledger_entries``: the dedup ledgers' bound in the child; both must have been full by the
    end of the warm-up, or their filling would pass for growth."""
    load = [s for s in samples if s["phase"] == "load"]
    trends = {key: trend(load, key) for key in ("rss", "fds", "tasks", "slots", "calls", "sidebands", "gc_full")}
    checks: list[dict[str, Any]] = []
    _check(
        checks, "full garbage collections in the warm-up",
        _minus(baseline.get("gc_full"), _first(samples, "gc_full")), 1, at_least=True,
    )
    for key in ("ledger_webhook_ids", "ledger_call_ids"):
        _check(checks, f"{key} settled by the end of the warm-up", baseline.get(key), ledger_entries, at_least=True)
    rss = trends["rss"]
    _check(checks, "rss slope under load (KiB/min)", _div(rss["slope_per_min"], 1024), limits.rss_slope_kib_per_min)
    _check(checks, "rss drift under load (MiB)", _div(rss["drift"], MIB), limits.rss_drift_mib)
    _check(checks, "open descriptors drift under load", trends["fds"]["drift"], limits.fds_drift)
    _check(checks, "trio tasks drift under load", trends["tasks"]["drift"], limits.tasks_drift)
    for key in ("slots", "calls"):
        _check(checks, f"{key} drift under load", trends[key]["drift"], limits.slots_drift_share * capacity)
        _check(checks, f"{key} at most the capacity", trends[key]["max"], capacity)
    held = [float(s["slots"]) for s in load if s.get("slots") is not None]
    _check(
        checks, "share of the slots held under load (mean)",
        round(statistics.fmean(held) / capacity, 3) if held else None, limits.min_held_share, at_least=True,
    )
    for key in ("calls", "capacity_used", "slots", "sidebands", "in_flight"):
        _check(checks, f"{key} left at the end", end.get(key), 0)
    _check(checks, "sideband sockets left at the end", _sum_role(end, "to_sideband"), 0)
    _check(
        checks, "descriptors at the end over the baseline, pooled client connections aside",
        _minus(_unpooled_fds(end), _unpooled_fds(baseline)), limits.fds_end_over_baseline,
    )
    for role in POOLED:
        _check(
            checks, f"pooled connections {role} at the end (actors/transport.py keeps <= {POOL_BOUND} per origin)",
            _sum_role(end, role), POOL_BOUND,
        )
    _check(
        checks, "trio tasks at the end over the baseline",
        _minus(end.get("tasks"), baseline.get("tasks")), limits.tasks_end_over_baseline,
    )
    for name, count in health.items():
        _check(checks, name, count, 0)
    return {"ok": all(c["ok"] for c in checks), "checks": checks, "trends": trends, "limits": attrs.asdict(limits)}


def _first(samples: Sequence[dict[str, Any]], key: str) -> float | None:
    return next((float(s[key]) for s in samples if s.get(key) is not None), None)


def _unpooled_fds(sample: dict[str, Any]) -> float | None:
    fds = sample.get("fds")
    return None if fds is None else fds - sum(_sum_role(sample, role) for role in POOLED)


def _sum_role(sample: dict[str, Any], role: str) -> int:
    return sum(n for key, n in (sample.get("connections") or {}).items() if key.startswith(f"{role}:"))


def _div(value: float | None, by: float) -> float | None:
    return None if value is None else round(value / by, 3)


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def warmup_growth(samples: Sequence[dict[str, Any]], settled_after_s: float = 30.0) -> dict[str, Any] | None:
    """RSS gained per decided call during the warm-up, from ``settled_after_s`` (the slots full)
    to the last sample before the child's first full garbage collection: what the calls leave
    for that collection to free."""
    warm = [s for s in samples if s["phase"] == "warmup" and s.get("rss") is not None and s.get("gc_full") is not None]
    if not warm:
        return None
    first_full = warm[0]["gc_full"]
    before = [s for s in warm if s["gc_full"] == first_full and s["t"] >= settled_after_s]
    if len(before) < 2:
        return None
    a, b = before[0], before[-1]
    calls = b["ledger_call_ids"] - a["ledger_call_ids"]
    grown = b["rss"] - a["rss"]
    return {
        "from_t": a["t"], "to_t": b["t"], "rss_grown": grown, "calls": calls,
        "bytes_per_call": round(grown / calls) if calls else None,
    }
