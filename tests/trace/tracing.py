"""Running ``callvisor trace`` from the tests, and reading its ``--json`` answer."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from supervisor.commands.trace import run_trace


def trace(call_id: str, *paths: Path, as_json: bool = True) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = run_trace(call_id, [str(p) for p in paths], as_json=as_json, out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def traced(call_id: str, *paths: Path) -> dict[str, Any]:
    status, out, err = trace(call_id, *paths)
    assert status == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


def statuses(document: dict[str, Any]) -> dict[str, list[int]]:
    by_status: dict[str, list[int]] = {"passed": [], "failed": [], "not_reached": []}
    for step in document["steps"]:
        by_status[step["status"]].append(step["number"])
    return by_status
