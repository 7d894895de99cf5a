"""What grew in the child between two tracemalloc snapshots (``python -m bench.soak --tracemalloc``).

The snapshots are taken at the two quiesces (baseline and end: every call ended, the load's
connections closed), so what is still allocated at the end and was not at the baseline is what
the calls in between left behind: bounded caches filling, or a leak.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TOP = 15


def top_growth(snapshots: Sequence[Path], top: int = TOP) -> dict[str, Any] | None:
    """The ``top`` source lines whose live allocations grew most from the first snapshot to the last."""
    if len(snapshots) < 2:
        return None
    first = tracemalloc.Snapshot.load(str(snapshots[0]))
    last = tracemalloc.Snapshot.load(str(snapshots[-1]))
    keep = (tracemalloc.Filter(False, tracemalloc.__file__),)
    first, last = first.filter_traces(keep), last.filter_traces(keep)
    stats = last.compare_to(first, "lineno")
    total_first = sum(s.size for s in first.statistics("filename"))
    total_last = sum(s.size for s in last.statistics("filename"))
    return {
        "traced_bytes_baseline": total_first,
        "traced_bytes_end": total_last,
        "top": [
            {
                "where": f"{stat.traceback[0].filename}:{stat.traceback[0].lineno}",
                "size_diff": stat.size_diff,
                "count_diff": stat.count_diff,
                "size": stat.size,
            }
            for stat in sorted(stats, key=lambda s: s.size_diff, reverse=True)[:top]
        ],
    }
