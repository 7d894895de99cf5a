"""Small statistics helpers: percentiles, spreads, Prometheus histogram quantiles."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, linearly interpolated; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(values_s: Sequence[float]) -> dict[str, float | int]:
    """n, p50, p90, p99 and max of durations given in seconds, reported in milliseconds."""
    return {
        "n": len(values_s),
        "p50_ms": round(percentile(values_s, 50) * 1000, 3),
        "p90_ms": round(percentile(values_s, 90) * 1000, 3),
        "p99_ms": round(percentile(values_s, 99) * 1000, 3),
        "max_ms": round(max(values_s) * 1000, 3) if values_s else math.nan,
    }


def spread(samples: Sequence[float]) -> dict[str, Any]:
    """Median, min, max of per-repetition samples, and the samples themselves."""
    clean = [s for s in samples if not math.isnan(s)]
    if not clean:
        return {"median": math.nan, "min": math.nan, "max": math.nan, "samples": list(samples)}
    return {
        "median": round(statistics.median(clean), 4),
        "min": round(min(clean), 4),
        "max": round(max(clean), 4),
        "samples": [round(s, 4) for s in samples],
    }


def parse_histogram(text: str, name: str) -> dict[float, float]:
    """Cumulative bucket counts ``{le: count}`` of histogram ``name`` in Prometheus text."""
    buckets: dict[float, float] = {}
    prefix = f"{name}_bucket{{"
    for line in text.splitlines():
        if not line.startswith(prefix):
            continue
        labels, _, value = line.rpartition(" ")
        le = labels.split('le="', 1)[1].split('"', 1)[0]
        buckets[math.inf if le == "+Inf" else float(le)] = float(value)
    return buckets


def histogram_delta(before: Mapping[float, float], after: Mapping[float, float]) -> dict[float, float]:
    """Per-bucket cumulative counts observed between two scrapes."""
    return {le: after[le] - before.get(le, 0.0) for le in after}


def histogram_quantile(cumulative: Mapping[float, float], q: float) -> float:
    """Prometheus-style quantile (0..1) from cumulative buckets, interpolated inside a bucket.

    The answer is only as fine as the buckets: it lies between the bucket's bounds.
    """
    bounds = sorted(cumulative)
    if not bounds:
        return math.nan
    total = cumulative[bounds[-1]]
    if total <= 0:
        return math.nan
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound in bounds:
        count = cumulative[bound]
        if count >= rank:
            if math.isinf(bound):
                return previous_bound
            if count == previous_count:
                return bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / (
                count - previous_count
            )
        previous_bound, previous_count = bound, count
    return bounds[-1]


def bucket_bounds(cumulative: Mapping[float, float], q: float) -> tuple[float, float]:
    """The (lower, upper) bounds of the bucket holding quantile ``q``."""
    bounds = sorted(cumulative)
    total = cumulative[bounds[-1]] if bounds else 0.0
    lower = 0.0
    for bound in bounds:
        if total and cumulative[bound] >= q * total:
            return lower, bound
        lower = bound
    return lower, math.inf


def mean(values: Iterable[float]) -> float:
    listed = list(values)
    return statistics.fmean(listed) if listed else math.nan
