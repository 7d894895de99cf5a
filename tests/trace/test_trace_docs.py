"""docs/operations.md's "Tracing a call" table says what ``callvisor trace`` does."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.log import EVENTS
from supervisor.commands._timeline import CONTINUED, FAILURES, STEPS
from supervisor.commands.cli import main

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def _rows() -> list[list[str]]:
    text = OPERATIONS.read_text(encoding="utf-8")
    section = text.split("## Tracing a call\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and line[2:3].isdigit()]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_one_row_per_step_in_order_with_its_events() -> None:
    """Eleven rows, each with its step's number, the guide's title and every event of the step."""
    rows = _rows()
    assert [(row[0], row[1]) for row in rows] == [(str(s.number), s.title) for s in STEPS]
    for step, row in zip(STEPS, rows, strict=True):
        for event in step.events:
            assert f"`{event}`" in row[2], f"step {step.number}'s row does not name {event}"


def test_every_failure_is_in_the_table_and_in_the_registry() -> None:
    """Each event that fails a step is named in the table and registered in actors.log.EVENTS."""
    table = " ".join(cell for row in _rows() for cell in row)
    for event in FAILURES | CONTINUED:
        assert event in EVENTS
        assert f"`{event}`" in table, event


def test_help_lists_trace_and_report(capsys: pytest.CaptureFixture[str]) -> None:
    """`callvisor --help` names both commands; each one's --help says what it reads."""
    for argv, expected in ((["--help"], ("trace", "report")), (["trace", "--help"], ("--json", "gzip")),
                           (["report", "--help"], ("redacted", "MongoDB"))):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 0
        shown = capsys.readouterr().out
        for word in expected:
            assert word in shown
