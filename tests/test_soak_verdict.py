"""The soak's verdict (bench/soak_verdict.py) and its section of docs/benchmarks.md (bench/soak_doc.py)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from bench.soak_doc import soak_section
from bench.soak_verdict import drift, judge, slope_per_min

CAPACITY = 50
LEDGER = 500
KIB = 1024


def _samples(rss_per_min: float, *, fds_per_min: float = 0.0, minutes: float = 5.0, seed: int = 1) -> list[dict[str, Any]]:
    """Load samples every 3 s: noisy but flat, plus the given growth."""
    rng = random.Random(seed)
    out = []
    for i in range(int(minutes * 20)):
        t = 300.0 + 3 * i
        out.append({
            "t": t, "phase": "load",
            "rss": 110 * 1024 * KIB + rng.uniform(-300, 300) * KIB + rss_per_min * (t - 300) / 60,
            "fds": 85 + rng.randint(-3, 3) + fds_per_min * (t - 300) / 60,
            "tasks": 164 + rng.randint(-4, 4), "slots": 49 + rng.randint(-2, 1), "calls": 49,
            "sidebands": 49, "gc_full": 2,
        })
    return out


def _idle(**extra: Any) -> dict[str, Any]:
    return {
        "t": 0.0, "fds": 15, "tasks": 24, "calls": 0, "capacity_used": 0, "slots": 0, "sidebands": 0,
        "in_flight": 0, "gc_full": 2, "ledger_webhook_ids": 2000, "ledger_call_ids": 1900,
        "connections": {"listening:LISTEN": 2}, **extra,
    }


def _verdict(samples: list[dict[str, Any]], end: dict[str, Any] | None = None) -> dict[str, Any]:
    start = [{"t": 0.0, "phase": "warmup", "gc_full": 1}]
    return judge(start + samples, _idle(), end or _idle(), CAPACITY, {"call_actor_crashed in the log": 0}, LEDGER)


def _failed(verdict: dict[str, Any]) -> list[str]:
    return [c["check"] for c in verdict["checks"] if not c["ok"]]


def test_slope_and_drift_of_a_line() -> None:
    """A line's slope is per minute; drift compares the medians of the last and first thirds."""
    points = [(float(t), 2.0 * t) for t in range(0, 60, 3)]
    assert slope_per_min(points) == 120.0
    # 20 points, thirds of 6: medians at t = 7.5 s and t = 49.5 s.
    assert drift([v for _, v in points]) == 2.0 * 49.5 - 2.0 * 7.5


def test_a_flat_noisy_run_passes() -> None:
    """Noise of a few hundred KiB and a few descriptors, no growth: every check passes."""
    verdict = _verdict(_samples(0.0))
    assert _failed(verdict) == []
    assert verdict["ok"]


def test_the_issues_leak_fails_on_rss() -> None:
    """3 KiB per webhook at ~8 webhooks/s (the issue's leak) fails both RSS checks."""
    assert _failed(_verdict(_samples(3 * KIB * 8 * 60))) == ["rss slope under load (KiB/min)", "rss drift under load (MiB)"]


def test_a_descriptor_leak_and_leftovers_fail() -> None:
    """Descriptors growing under load, and a sideband socket left at the end, each fail their check."""
    end = _idle(fds=20, connections={"to_sideband:ESTABLISHED": 1})
    failed = _failed(_verdict(_samples(0.0, fds_per_min=3.0), end))
    assert failed == [
        "open descriptors drift under load", "sideband sockets left at the end",
        "descriptors at the end over the baseline, pooled client connections aside",
    ]


def test_the_page_keeps_the_soak_section_when_regenerated() -> None:
    """bench.doc.render includes the Soak section whenever soak.json is given, and none without it."""
    pytest.importorskip("psutil", reason="bench.doc needs the bench extra (make bench, make soak)")
    from bench.doc import render

    verdict = _verdict(_samples(0.0))
    soak = {
        "settings": {"capacity": CAPACITY, "seconds": 600, "warmup_s": 60, "interval_s": 3, "ledger_entries": LEDGER},
        "machine": {"date": "today", "cores": 2}, "foreign_load": {"mean_cores": 0.5, "max_cores": 1.5},
        "warmup_ended_s": 330, "idle_start": _idle(), "baseline": _idle(), "end": _idle(),
        "load": {
            "placed": 4000, "outcomes": {"webhook:accepted": 3500}, "endings": {"caller_hangup": 3500},
            "blips": [{"t": 40, "kind": "accept_503", "accepts": 5}], "tool_round_trip": {"p50_ms": 3.0, "p99_ms": 9.0},
            "ledger_webhook_ids": 4100, "ledger_call_ids": 4000,
        },
        "verdict": verdict,
    }
    assert soak_section(None) == []
    page = render({}, [], None, soak)
    assert "## Soak" in page
    assert "![soak](benchmarks/soak.png)" in page
    assert "## Soak" not in render({}, [], None, None)


def test_the_pages_collector_cadence_is_the_services() -> None:
    """bench/soak_doc.py's copy of the collector cadence is supervisor/service.py's."""
    from bench import soak_doc
    from supervisor import service

    assert (soak_doc.PRODUCTION_FULL_EVERY, soak_doc.YOUNG_PERIOD_S) == (service.GC_FULL_EVERY, service.GC_YOUNG_PERIOD_S)
