"""The fault matrix's page and catalogue agree with the table that drives the fault tests.

docs/operations.md's "Faults and what callvisor does" is rendered from
``supervisor.commands.faults.FAULTS`` (``make docs``); each row's event must be in the
troubleshooting catalogue (docs/troubleshooting.md, rendered from ``actors.log.EVENTS``) and
its reason among the reasons that event's entry lists.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

from actors.log import EVENTS
from supervisor.commands.faults import (
    BEGIN,
    END,
    FAULTS,
    Fault,
    render_faults_section,
    update_operations,
)
from supervisor.metrics import Metrics
from tests.faults.matrix import metric_key

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: The areas, each with its test module (tests/faults/test_faults_*.py).
AREAS = {
    "call control": "test_faults_call_control.py",
    "sideband": "test_faults_sideband.py",
    "tenant store": "test_faults_tenant_store.py",
    "http tool": "test_faults_tools.py",
}


def test_operations_page_shows_the_fault_table() -> None:
    """docs/operations.md's fault section is exactly what FAULTS renders to (run `make docs`)."""
    text = (DOCS / "operations.md").read_text(encoding="utf-8")
    assert text.count(BEGIN) == text.count(END) == 1
    if update_operations(text) != text:
        shown = text.split(BEGIN, 1)[1].split(END, 1)[0].lstrip("\n")
        diff = "".join(
            difflib.unified_diff(
                shown.splitlines(keepends=True),
                render_faults_section().splitlines(keepends=True),
                "docs/operations.md",
                "FAULTS",
                n=0,
            )
        )
        pytest.fail("docs/operations.md's fault matrix differs from FAULTS; run `make docs`\n" + diff[:4000])


def test_page_has_one_row_per_fault() -> None:
    """Every fault has its own row, under a unique name, in an area with its own tests."""
    assert len({fault.name for fault in FAULTS}) == len(FAULTS)
    assert {fault.area for fault in FAULTS} == set(AREAS)
    for module in AREAS.values():
        assert (Path(__file__).parent / module).is_file()
    rows = [line for line in render_faults_section().splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == len(FAULTS) + 1  # and the header


def _catalogued_reasons(code: str, seen: frozenset[str] = frozenset()) -> str:
    """The catalogue's text of ``code``: its cause, and that of any event it refers to ("as for X")."""
    event = EVENTS[code]
    text = f"{event.cause} {event.response} " + " ".join(f"{a} {b}" for a, b in event.fixes)
    for other in re.findall(r"as for `?(\w+)`?", event.cause):
        if other in EVENTS and other not in seen:
            text += " " + _catalogued_reasons(other, seen | {code})
    return text


@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.name)
def test_fault_event_and_reason_are_in_the_catalogue(fault: Fault) -> None:
    """Each fault's event has its entry in docs/troubleshooting.md, and the entry names its reason."""
    assert fault.event in EVENTS
    catalogue = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    assert f"\n### `{fault.event}`\n" in catalogue
    assert re.search(rf"\b{re.escape(fault.reason)}\b", _catalogued_reasons(fault.event)), (
        f"{fault.event}'s catalogue entry does not list reason {fault.reason}"
    )
    if fault.ends is not None:
        assert f"`{fault.ends}`" in (DOCS / "operations.md").read_text(encoding="utf-8").split("## How calls end")[1]


@pytest.mark.parametrize("fault", [f for f in FAULTS if f.metrics], ids=lambda fault: fault.name)
def test_fault_metrics_exist(fault: Fault) -> None:
    """Each metric a fault's row names is one callvisor exports."""
    body, _ = Metrics().render()
    families = {line.split()[2] for line in body.decode().splitlines() if line.startswith("# TYPE ")}
    for metric in fault.metrics:
        name, _labels = metric_key(metric)
        assert name in families or name.removesuffix("_total") in families, metric
