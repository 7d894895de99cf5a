"""Before and after the profile's fixes: the key figures of two runs, side by side.

``docs/benchmarks/before.json`` is the results file of the run the profile came from (kept as
it was written); the page's own run is the *after*.  Both ran the same plan on the same
machine; each figure is the median of its repetitions, as in the rest of the page.
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import median
from typing import Any

Figure = Callable[[dict[str, Any]], float | None]


def _median(entry: dict[str, Any] | None) -> float | None:
    value = (entry or {}).get("median")
    return float(value) if value is not None else None


def _top(r: dict[str, Any], phase: str) -> dict[str, Any]:
    levels = (r.get(phase) or {}).get("levels") or []
    return max(levels, key=lambda lv: lv["level"], default={})


def _at_level(r: dict[str, Any], phase: str, level: int) -> dict[str, Any]:
    for lv in (r.get(phase) or {}).get("levels") or []:
        if lv["level"] == level:
            return dict(lv)
    return {}


def _ratio_to_peer(r: dict[str, Any]) -> float | None:
    ours = (r.get("intake") or {}).get("sustained_per_s")
    peer = (r.get("peer_intake") or {}).get("sustained_per_s")
    return ours / peer if ours and peer else None


def _share_of_ceiling(r: dict[str, Any]) -> float | None:
    intake = r.get("intake") or {}
    ceiling = _median((intake.get("ceiling") or {}).get("requests_per_s"))
    rate = intake.get("sustained_per_s")
    return 100 * rate / ceiling if rate and ceiling else None


def _profile_ms_per_call(r: dict[str, Any], name: str | None = None) -> float | None:
    profile = r.get("profile") or {}
    calls = (profile.get("load") or {}).get("calls")
    busy = profile.get("busy_s")
    if not calls or not busy:
        return None
    share = 1.0
    if name is not None:
        share = sum(row["share"] for row in profile.get("inclusive_ours", []) if row["name"] == name)
    return float(1000 * busy * share / calls)


def _burst_decide_s(r: dict[str, Any]) -> float | None:
    runs = (r.get("burst") or {}).get("runs") or []
    return median(run["decide_all_s"] for run in runs) if runs else None


#: (label, unit, figure, better when higher)
FIGURES: tuple[tuple[str, str, Figure, bool], ...] = (
    ("empty-route ceiling (`GET /health`)", "req/s",
     lambda r: _median(((r.get("intake") or {}).get("ceiling") or {}).get("requests_per_s")), True),
    ("sustained intake", "webhooks/s", lambda r: (r.get("intake") or {}).get("sustained_per_s"), True),
    ("sustained intake / the peer's, same run", "x", _ratio_to_peer, True),
    ("sustained intake / own ceiling", "%", _share_of_ceiling, True),
    ("server CPU per call at the sustained rate", "ms",
     lambda r: _median(((r.get("intake") or {}).get("confirm") or {}).get("server_cpu_ms_per_call")), False),
    ("sequential webhook round trip p50", "ms",
     lambda r: _median(((r.get("intake") or {}).get("sequential") or {}).get("p50_ms")), False),
    ("decision p99 at half the sustained rate", "ms",
     lambda r: _median(((r.get("intake") or {}).get("half_rate") or {}).get("decision_p99_ms")), False),
    ("busy CPU per call under the profiler", "ms", _profile_ms_per_call, False),
    ("of which call control (`actors/control.py:_call`)", "ms",
     lambda r: _profile_ms_per_call(r, "actors/control.py:_call"), False),
    ("RSS per live call at 1,000 calls (http-less tool)", "KiB",
     lambda r: _at_level(r, "concurrency_httpless", 1000).get("rss_per_call_kib"), False),
    ("RSS per live call at the top level (http-less tool)", "KiB",
     lambda r: _top(r, "concurrency_httpless").get("rss_per_call_kib"), False),
    ("live calls reached at the top level (http-less tool)", "calls",
     lambda r: _top(r, "concurrency_httpless").get("live_sidebands"), True),
    ("event-loop lag p99 at the top level", "ms",
     lambda r: (_top(r, "concurrency_httpless").get("loop_lag") or {}).get("p99_ms"), False),
    ("CPU per call-minute at the top level (http-less tool)", "ms",
     lambda r: _top(r, "concurrency_httpless").get("cpu_ms_per_call_minute"), False),
    ("CPU per call-minute at 1,000 calls (http tool)", "ms",
     lambda r: _at_level(r, "concurrency", 1000).get("cpu_ms_per_call_minute"), False),
    ("burst: time to decide 1,000 calls (median of runs)", "s", _burst_decide_s, False),
)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "%":
        return f"{value:.0f}%"
    digits = 0 if abs(value) >= 100 else (1 if abs(value) >= 10 else 2)
    return f"{value:,.{digits}f}" + ("" if unit in ("calls",) else f" {unit}")


def _change(before: float | None, after: float | None, higher_is_better: bool) -> str:
    if before is None or after is None or before == 0 or after == 0:
        return ""
    factor = after / before if higher_is_better else before / after
    word = "better" if factor >= 1 else "worse"
    return f"{factor:.2f}x {word}" if abs(factor - 1) >= 0.03 else "same"


def plaintext_view(r: dict[str, Any]) -> dict[str, Any]:
    """The results as a plaintext run would have them: the plaintext phases in place of the TLS
    ones; phases without a plaintext twin (the peer's included) are left out."""
    return {
        **r,
        "intake": r.get("intake_plaintext"),
        "peer_intake": None,
        "concurrency_httpless": r.get("concurrency_plaintext"),
        "concurrency": None,
        "profile": None,
        "burst": None,
    }


def before_after(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """The section's rows, or nothing when there is no earlier run to compare with.

    A *before* run over plaintext is compared with this run's plaintext phases where they have the
    figure, and with its TLS phases (marked) where they do not.
    """
    if not before:
        return []
    when = (before.get("machine") or {}).get("date")
    mixed = bool(after.get("tls")) and not before.get("tls")
    out = [
        "## Before and after the fixes",
        "",
        f"*Before* is the run of {when} ([before.json](benchmarks/before.json)), whose profile (section 5)",
        "chose the fixes; *after* is this page's run, same plan, same machine. Median of the repetitions;",
        "*change* is the factor in the good direction.",
    ]
    if mixed:
        out += [
            "The *before* run was over plaintext: *after* is this run's plaintext phase where it has the figure,",
            "and its TLS phase where it does not (marked *TLS*), whose change then includes TLS's cost.",
        ]
    out += ["", "| figure | before | after | change |", "|---|---:|---:|---|"]
    plain = plaintext_view(after) if mixed else after
    for label, unit, figure, higher_is_better in FIGURES:
        # The plaintext run has one low level only: "the top level" is the TLS run's.
        b, a = figure(before), (None if mixed and "top level" in label else figure(plain))
        marked = label
        if a is None and mixed:
            a = figure(after)
            marked = f"{label} (after: *TLS*)" if a is not None else label
        if b is None and a is None:
            continue
        out.append(f"| {marked} | {_fmt(b, unit)} | {_fmt(a, unit)} | {_change(b, a, higher_is_better)} |")
    return [*out, ""]
