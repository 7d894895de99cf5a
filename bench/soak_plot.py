"""The soak's figure: RSS, descriptors, trio tasks and slots over the run (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PANELS = (
    ("rss", "RSS (MiB)", 1 / (1024 * 1024)),
    ("fds", "open descriptors", 1.0),
    ("tasks", "trio tasks", 1.0),
    ("slots", "slots held", 1.0),
)
LOAD_COLOUR = "#1f77b4"
IDLE_COLOUR = "#2ca02c"
BLIP_COLOUR = "#d62728"


def write_figure(result: dict[str, Any], path: Path) -> Path:
    samples = result["samples"]
    settings = result["settings"]
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(11, 10), sharex=True)
    warmup_min = result.get("warmup_ended_s", settings["warmup_s"]) / 60
    for ax, (key, label, scale) in zip(axes, PANELS, strict=True):
        points = [(s["t"] / 60, s[key] * scale) for s in samples if s.get(key) is not None]
        ax.plot([t for t, _ in points], [v for _, v in points], color=LOAD_COLOUR, linewidth=1)
        for idle in ("baseline", "end"):
            sample = result.get(idle) or {}
            if sample.get(key) is not None:
                ax.plot([sample["t"] / 60], [sample[key] * scale], "o", color=IDLE_COLOUR)
        ax.axvspan(0, warmup_min, color="#dddddd", alpha=0.6, linewidth=0)
        for blip in result["load"]["blips"]:
            ax.axvline(blip["t"] / 60, color=BLIP_COLOUR, alpha=0.3, linewidth=1)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[-1].axhline(settings["capacity"], color="#7f7f7f", linestyle="--", linewidth=1)
    axes[-1].set_xlabel("minutes since the start (grey: warm-up; green dots: idle after each quiesce; red lines: accept blips)")
    verdict = "passed" if result["verdict"]["ok"] else "FAILED"
    fig.suptitle(
        f"make soak: callvisor serve at {settings['capacity']} slots for {settings['seconds']:g} s "
        f"({result['load']['placed']:,} calls), {verdict}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
