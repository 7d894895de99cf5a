"""The README stays in step with the code it documents."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

from actors.decision import SIP_STATUS_BY_REASON
from config.settings import SETTINGS, render_settings_table

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN = "<!-- settings:begin -->"
END = "<!-- settings:end -->"
FIX = "run `make docs`: it rewrites the block between the settings markers of README.md"


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _settings_block(text: str) -> str:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        pytest.fail(f"README.md lacks the {BEGIN} ... {END} markers; add them, then {FIX}")
    return text[start + len(BEGIN) : end].strip("\n") + "\n"


def test_settings_table_matches_the_code() -> None:
    """The README's configuration table is exactly render_settings_table()."""
    actual = _settings_block(_readme())
    expected = render_settings_table()
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                actual.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                "README.md",
                "render_settings_table()",
                n=0,
            )
        )
        pytest.fail(f"README.md's settings table is out of date; {FIX}\n{diff[:4000]}")


@pytest.mark.parametrize("name", [doc.name for doc in SETTINGS])
def test_every_setting_is_named(name: str) -> None:
    """Every environment variable in SETTINGS is named in the README."""
    assert f"`{name}`" in _readme(), f"README.md does not mention {name}"


@pytest.mark.parametrize(("reason", "status"), sorted(SIP_STATUS_BY_REASON.items()))
def test_every_rejection_reason_has_its_sip_status(reason: str, status: int) -> None:
    """Every rejection reason is listed in a README table row with its SIP status."""
    row = re.compile(rf"^\|\s*`{re.escape(reason)}`\s*\|\s*{status}\b", re.MULTILINE)
    assert row.search(_readme()), f"README.md has no row `| `{reason}` | {status} ...`"


def _subcommands() -> list[str]:
    import argparse

    from supervisor.commands.cli import _parser

    actions = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(actions[0].choices)


@pytest.mark.parametrize("command", _subcommands())
def test_every_command_has_a_row_in_the_command_table(command: str) -> None:
    """Each subcommand of `callvisor --help` starts a row of the README's command table."""
    assert re.search(rf"^\| `callvisor {command}\b", _readme(), re.MULTILINE), (
        f"README.md's command table has no row for `callvisor {command}`"
    )
