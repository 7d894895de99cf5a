"""deploy/systemd: the unit passes `systemd-analyze verify`, and its stop, signals and
descriptor limit fit what callvisor does (config/settings.py's defaults, the env file's
MAX_CONCURRENT_CALLS, supervisor.http_server.descriptors_needed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from config.errors import SettingsError
from config.settings import SETTINGS, Settings, read_variables
from supervisor.http_server import descriptors_needed
from tests.deploy.kit import ENV_FILE, UNIT


def _unit() -> dict[str, dict[str, str]]:
    """The unit's sections and their settings (a later assignment wins, as in systemd)."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        else:
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    return sections


def _env_file() -> dict[str, str]:
    pairs = (
        line.split("=", 1) for line in ENV_FILE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


def _seconds(span: str) -> float:
    """A systemd time span of the forms this unit uses: `75`, `75s`, `1min 15s`."""
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60}
    total = 0.0
    for number, unit in re.findall(r"([0-9.]+)\s*([a-z]*)", span):
        total += float(number) * units[unit]
    return total


def _default(name: str) -> object:
    field = next(declared for declared in SETTINGS if declared.name == name).attribute
    return getattr(Settings(openai_api_key="k", webhook_secrets=(b"s",)), field)


def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    """`systemd-analyze verify`: no unknown key, bad value or missing command.

    The unit is verified as a copy whose ExecStart names an executable stub: the real path
    (/opt/callvisor/.venv/bin/callvisor) exists only where callvisor is installed.
    """
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not found (package systemd): the unit is not verified here")
    stub = tmp_path / "bin" / "callvisor"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\n", encoding="utf-8")
    stub.chmod(0o755)
    text = UNIT.read_text(encoding="utf-8")
    assert "ExecStart=/opt/callvisor/.venv/bin/callvisor serve" in text
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace("/opt/callvisor/.venv/bin/callvisor", str(stub)), encoding="utf-8")
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if UNIT.name in line]
    assert (result.returncode, complaints) == (0, [])


def test_the_stop_timeout_outlasts_a_drain() -> None:
    """TimeoutStopSec > CALLVISOR_DRAIN_GRACE_S + 20 s, for the default and the env file's."""
    stop_s = _seconds(_unit()["Service"]["TimeoutStopSec"])
    grace = read_variables(_env_file(), ["CALLVISOR_DRAIN_GRACE_S"])["CALLVISOR_DRAIN_GRACE_S"]
    default = _default("CALLVISOR_DRAIN_GRACE_S")
    assert isinstance(default, float)
    assert stop_s > max(grace, default) + 20


def test_stop_is_sigterm_to_callvisor_and_reload_is_sighup() -> None:
    """SIGTERM drains; SIGHUP re-reads the tenants file (docs/operations.md)."""
    service = _unit()["Service"]
    assert service["KillSignal"] == "SIGTERM"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["ExecStart"].split()[1:] == ["serve"]


def test_the_descriptor_limit_covers_the_env_files_calls() -> None:
    """LimitNOFILE >= descriptors_needed(MAX_CONCURRENT_CALLS) of callvisor.env.example."""
    calls = read_variables(_env_file(), ["MAX_CONCURRENT_CALLS"])["MAX_CONCURRENT_CALLS"]
    assert int(_unit()["Service"]["LimitNOFILE"]) >= descriptors_needed(calls)


def test_the_env_file_sets_only_settings_and_valid_values() -> None:
    """Each variable of the example is one callvisor reads, and its value parses; aside: the
    tenants file (it exists where callvisor is installed) and the webhook secret, whose
    placeholder is not base64 on purpose, so that an unedited file does not start."""
    env = _env_file()
    known = {declared.name for declared in SETTINGS}
    assert set(env) - known == set()
    read_variables(env, [n for n in env if n not in {"CALLVISOR_TENANTS_FILE", "OPENAI_WEBHOOK_SECRET"}])
    with pytest.raises(SettingsError, match="OPENAI_WEBHOOK_SECRET"):
        read_variables(env, ["OPENAI_WEBHOOK_SECRET"])
