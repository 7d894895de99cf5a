"""The "Fuzzing" section of docs/benchmarks.md, written by ``make fuzz`` (placeholder)."""

from __future__ import annotations

from pathlib import Path


def write_section(path: Path, **figures: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(repr(figures) + "\n")
