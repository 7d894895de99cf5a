from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from actors.log import EVENTS
from config.errors import ApplicationError
from supervisor.commands.docs import load_sip_status, render_troubleshooting

DOC = Path(__file__).resolve().parents[1] / "docs" / "troubleshooting.md"

#: The quick-reference table of the original error catalogue: event -> severity.
CATALOGUE = {
    "webhook_verification_failed": "ERROR",
    "duplicate_webhook_id": "WARNING",
    "tenant_resolution_failed": "ERROR",
    "tenant_not_configured": "ERROR",
    "instructions_missing": "ERROR",
    "instructions_db_error": "ERROR",
    "tenant_config_parse_error": "ERROR",
    "tool_build_error": "ERROR",
    "call_accept_failed": "ERROR",
    "call_session_start_failed": "ERROR",
}


def test_checked_in_doc_matches_the_registry() -> None:
    """docs/troubleshooting.md is exactly what the registry renders to."""
    expected = render_troubleshooting(load_sip_status())
    actual = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                actual.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                "docs/troubleshooting.md",
                "rendered",
                n=1,
            )
        )
        pytest.fail(
            "docs/troubleshooting.md is out of date with actors/log/_events.py; run `make docs`\n"
            + diff[:4000]
        )


@pytest.mark.parametrize(("code", "severity"), sorted(CATALOGUE.items()))
def test_catalogue_events_are_registered(code: str, severity: str) -> None:
    """Every event of the original catalogue is registered, marked, with its severity."""
    assert code in EVENTS
    assert EVENTS[code].severity == severity
    assert EVENTS[code].in_guide


def test_only_catalogue_events_carry_the_mark() -> None:
    """The in_guide marker is not claimed by events we added ourselves."""
    assert {code for code, event in EVENTS.items() if event.in_guide} == set(CATALOGUE)


def test_every_event_has_a_row_and_a_section() -> None:
    """Each registered event shows up in the quick reference and under its category."""
    text = render_troubleshooting()
    for code, event in EVENTS.items():
        assert f"| [`{code}`](#{code})" in text
        assert f"\n### `{code}`\n" in text
        assert f"\n## {event.category}\n" in text
        for symptom, _ in event.fixes:
            assert symptom.replace("*", "\\*") in text


def test_error_classes_report_registered_events() -> None:
    """Each error class below ApplicationError that names an event names a registered one.

    A family base (CallControlError) names none of its own: its subclasses do.
    """
    render_troubleshooting()  # imports actors.errors when it exists

    def walk(cls: type[ApplicationError]) -> list[type[ApplicationError]]:
        return [cls, *(c for sub in cls.__subclasses__() for c in walk(sub))]

    ours = [
        c
        for c in walk(ApplicationError)[1:]
        if c.__module__.startswith(("config.", "actors.")) and "event" in vars(c)
    ]
    assert ours
    for cls in ours:
        assert cls.event in EVENTS, f"{cls.__name__}.event = {cls.event!r} is not registered"


def test_sip_table_only_when_a_mapping_is_given() -> None:
    """The SIP status section lists each reason with the status phrase, sorted by reason."""
    without = render_troubleshooting()
    assert "## Rejection SIP status by reason" not in without
    with_map = render_troubleshooting({"capacity": 486, "tenant_resolution_failed": 404})
    capacity = "| `capacity` | 486 Busy Here |"
    routed = "| [`tenant_resolution_failed`](#tenant_resolution_failed) | 404 Not Found |"
    assert with_map.index(capacity) < with_map.index(routed)


def test_rendering_is_stable() -> None:
    """Two renderings are identical: no timestamps or unordered iteration."""
    assert render_troubleshooting(load_sip_status()) == render_troubleshooting(load_sip_status())


def test_throwaway_error_subclasses_stay_out_of_the_page() -> None:
    """A subclass defined outside our packages (here, in a test) is not documented."""

    class ScratchError(ApplicationError):
        event = "scratch"

    assert "ScratchError" not in render_troubleshooting()
