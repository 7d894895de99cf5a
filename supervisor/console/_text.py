"""The live tree as text, drawn as the console draws it (private; see supervisor.console).

``callvisor demo --hold`` prints it from ``GET /actors``: the supervisor, its calls (tenant,
state, age, time left, tools running), and under each call the tasks trio runs for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: The sideband's reader task as trio names it, and the console's label for it.
READER_TASK = "trio_websocket._impl.WebSocketConnection._reader_task"
TASK_LABELS = {READER_TASK: "sideband reader"}


def task_label(name: str) -> str:
    """A task's name, with what it is when the name alone does not say (the sideband reader)."""
    label = TASK_LABELS.get(name)
    return f"{label} ({name})" if label else name


def _call_line(call: Mapping[str, Any]) -> str:
    deadline = call.get("deadline_in_s")
    parts = [
        f"call:{call['call_id']}",
        f"tenant {call.get('tenant_id') or 'unknown'}",
        *(["GPT-Live"] if call.get("runtime") == "live" else []),
        str(call.get("state")),
        f"age {float(call.get('age_s') or 0):.1f}s",
        "no deadline yet" if deadline is None else f"ends in {float(deadline):.0f}s",
    ]
    tools = call.get("tools_running") or []
    if tools:
        parts.append("tools running: " + ", ".join(tools))
    return "  ".join(parts)


def _tasks(tasks: Sequence[Mapping[str, Any]], prefix: str, out: list[str]) -> None:
    for i, task in enumerate(tasks):
        last = i == len(tasks) - 1
        out.append(f"{prefix}{'└─ ' if last else '├─ '}{task_label(str(task['task']))}")
        _tasks(task.get("children") or [], prefix + ("   " if last else "│  "), out)


def render_tree(tree: Mapping[str, Any]) -> str:
    """``tree`` (``GET /actors``' answer) as lines of text, one per actor and task."""
    capacity = tree.get("capacity") or {}
    out = [
        f"supervisor {tree.get('replica_id')}  draining: {'yes' if tree.get('draining') else 'no'}  "
        f"capacity {capacity.get('used')}/{capacity.get('limit')}"
    ]
    calls = list(tree.get("calls") or [])
    if not calls:
        out.append("└─ (no live calls)")
    for i, call in enumerate(calls):
        last = i == len(calls) - 1
        out.append(f"{'└─ ' if last else '├─ '}{_call_line(call)}")
        _tasks(call.get("tasks") or [], "   " if last else "│  ", out)
    return "\n".join(out) + "\n"
