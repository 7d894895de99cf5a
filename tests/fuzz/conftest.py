"""The webhook fuzz (tests/fuzz): its profiles, the counts printed at the end, the report.

Profiles (``HYPOTHESIS_PROFILE``):

- ``fuzz-bounded`` (the default, what ``make test`` runs): derandomized and without an example
  database, so every run tries the same few hundred cases (:data:`BUDGETS`); under ~40 s here.
- ``fuzz`` (``make fuzz``): random, at least 10,000 cases over the tests, failures kept in the
  local example database (``.hypothesis/``, ignored by git) so that a rerun replays them first.

Every example that ran is counted per test (:data:`CASES`, shrinking replays included) and the
counts, with each test's wall time, are printed at the end of the session.  With
``CALLVISOR_FUZZ_REPORT=PATH`` (``make fuzz`` sets it) they are also written to PATH as the
"Fuzzing" section of docs/benchmarks.md (:mod:`tests.fuzz.report`).
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fuzz.profiles import CASES, LABELS, OUTCOMES, PROFILE, STARTED, WALL_S


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    name = report.nodeid.rpartition("::")[2]
    if report.when == "call" or report.outcome == "failed":
        OUTCOMES[name] = report.outcome if OUTCOMES.get(name) != "failed" else "failed"
    if report.when == "call":
        WALL_S[name] = report.duration


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not CASES:
        return
    terminalreporter.section(f"webhook fuzz cases ({PROFILE})")
    for name, count in sorted(CASES.items()):
        terminalreporter.line(f"{count:>7,} cases  {WALL_S.get(name, 0.0):7.1f} s  {name}")
    terminalreporter.line(f"{sum(CASES.values()):>7,} cases in all")
    for name, labels in sorted(LABELS.items()):
        terminalreporter.line(f"{name}:")
        for label, count in labels.most_common():
            terminalreporter.line(f"  {count:>7,}  {label}")
    target = os.environ.get("CALLVISOR_FUZZ_REPORT")
    if target:
        from tests.fuzz.report import write_section

        write_section(
            Path(target),
            profile=PROFILE,
            cases=dict(CASES),
            wall_s=WALL_S,
            outcomes=OUTCOMES,
            answers=LABELS,
            session_s=time.monotonic() - STARTED,
            machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        )
        terminalreporter.line(f"written to {target}")
