"""``python -m bench.profiled OUT_DIR serve``: ``callvisor serve`` with pyinstrument at hand.

SIGUSR1 starts the profiler, SIGUSR2 stops it (so start-up and warm-up are left out).  It
samples the main thread (where trio runs every task) each millisecond; when stopped it writes ``OUT_DIR/profile.html``, ``OUT_DIR/profile.txt`` and
``OUT_DIR/summary.json`` (busy and idle time, CPU shares by component and the top functions by
self time).  Idle is the time trio spends blocked in epoll waiting for I/O.
"""

from __future__ import annotations

import json
import signal
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from pyinstrument import Profiler
from pyinstrument.frame import Frame

ROOT = Path(__file__).resolve().parent.parent
OURS = ("supervisor", "actors", "config")


def component(file_path: str | None) -> str:
    """The package (or ``stdlib:module``, or ``callvisor:package``) a frame's file belongs to."""
    path = file_path or ""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if path.startswith(str(ROOT)):
        top = path[len(str(ROOT)) + 1 :].split("/", 1)[0]
        return f"callvisor:{top}" if top in OURS else f"repo:{top}"
    if "/lib/python3" in path:
        rest = path.split("/lib/python3", 1)[1].split("/", 1)[1]
        return "stdlib:" + rest.split("/", 1)[0].removesuffix(".py")
    return "other"


def _is_idle(frame: Frame) -> bool:
    return frame.function in ("get_events", "EpollIOManager.get_events") and (
        frame.file_path or ""
    ).endswith("_io_epoll.py")


def _builtin(frame: Frame) -> bool:
    return not frame.file_path or frame.file_path.startswith("<")


def summarize(root: Frame) -> dict[str, Any]:
    """Busy time by package and by function; idle (epoll) time apart.

    A frame's self time is its time minus its real children's; pyinstrument's synthetic
    ``[self]`` frames are folded into their parent, and built-in (C) functions count for the
    package of the Python code that called them.
    """
    self_by_function: dict[tuple[str, str], float] = defaultdict(float)
    self_by_component: dict[str, float] = defaultdict(float)
    inclusive_by_component: dict[str, float] = defaultdict(float)
    inclusive_ours: dict[str, float] = defaultdict(float)
    idle = 0.0

    def walk(frame: Frame, parent_group: str, groups: frozenset[str], ours: frozenset[str]) -> float:
        """Visit ``frame``; returns the idle time inside it."""
        nonlocal idle
        if _is_idle(frame):
            idle += frame.time
            return float(frame.time)
        group = parent_group if _builtin(frame) else component(frame.file_path)
        where = "builtin" if _builtin(frame) else f"{_short(frame.file_path)}:{frame.line_no}"
        name = f"{frame.function} ({where})"
        children = [c for c in frame.children if not c.is_synthetic]
        own = frame.time - sum(c.time for c in children)
        self_by_function[(name, group)] += own
        self_by_component[group] += own
        qualified = f"{_short(frame.file_path)}:{frame.function}"
        is_ours = group.startswith("callvisor:") and not _builtin(frame)
        child_groups = groups | {group}
        child_ours = ours | {qualified} if is_ours else ours
        inner_idle = 0.0
        for child in children:
            inner_idle += walk(child, group, child_groups, child_ours)
        busy = frame.time - inner_idle
        if group not in groups:
            inclusive_by_component[group] += busy
        if is_ours and qualified not in ours:
            inclusive_ours[qualified] += busy
        return inner_idle

    walk(root, "other", frozenset(), frozenset())
    busy = root.time - idle

    def table(values: dict[Any, float], limit: int) -> list[dict[str, Any]]:
        ranked = sorted(values.items(), key=lambda kv: kv[1], reverse=True)[:limit]
        return [
            {
                "name": key[0] if isinstance(key, tuple) else key,
                "component": key[1] if isinstance(key, tuple) else None,
                "seconds": round(seconds, 4),
                "share": round(seconds / busy, 4) if busy else 0.0,
            }
            for key, seconds in ranked
        ]

    return {
        "wall_s": round(root.time, 3),
        "idle_s": round(idle, 3),
        "busy_s": round(busy, 3),
        "self_by_component": table(self_by_component, 30),
        "inclusive_by_component": table(inclusive_by_component, 30),
        "inclusive_ours": table(inclusive_ours, 40),
        "top_self": table(self_by_function, 40),
    }


def _short(path: str | None) -> str:
    path = path or "?"
    for marker in ("site-packages/", f"{ROOT}/", "/lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


class Recorder:
    """Starts on SIGUSR1, stops and writes on SIGUSR2 (or at exit), so that start-up is left out."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.profiler = Profiler(interval=0.001, async_mode="disabled")
        self.written = False

    def start(self, *_args: object) -> None:
        if not self.profiler.is_running and not self.written:
            self.profiler.start()

    def stop(self, *_args: object) -> None:
        if not self.profiler.is_running or self.written:
            return
        session = self.profiler.stop()
        self.written = True
        (self.out / "profile.html").write_text(self.profiler.output_html())
        (self.out / "profile.txt").write_text(
            self.profiler.output_text(unicode=False, color=False, show_all=False)
        )
        root = session.root_frame(trim_stem=False)
        summary = summarize(root) if root is not None else {}
        summary["samples"] = session.sample_count
        summary["cpu_s"] = round(session.cpu_time, 3)
        (self.out / "summary.json").write_text(json.dumps(summary, indent=1))


def main() -> int:
    out = Path(sys.argv[1])
    command = sys.argv[2:]
    from supervisor.commands.cli import main as callvisor

    recorder = Recorder(out)
    signal.signal(signal.SIGUSR1, recorder.start)
    signal.signal(signal.SIGUSR2, recorder.stop)
    (out / "ready").write_text("")
    try:
        return callvisor(command)
    finally:
        recorder.stop()


if __name__ == "__main__":
    sys.exit(main())
