"""``callvisor report``: the guide's help bundle, every secret redacted, MongoDB asked briefly."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import SETTINGS
from supervisor.commands.report import mongodb_version

ROOT = Path(__file__).resolve().parents[2]

API_KEY = "sk-report-test-4f1c9a0d7e2b"
WEBHOOK_SECRETS = ("whsec_cmVwb3J0LXRlc3Qtd2ViaG9vaw==", "raw-rotating-secret-8c1d")
ADMIN_TOKEN = "admin-token-report-5e7a"
MONGO_PASSWORD = "pa55-w0rd-report"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _report(call_id: str, log: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "supervisor.commands.cli", "report", call_id, str(log)],
        env=environ, capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )


def _secret_env() -> dict[str, str]:
    return {
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_WEBHOOK_SECRET": " ".join(WEBHOOK_SECRETS),
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "MONGODB_URI": f"mongodb://callvisor:{MONGO_PASSWORD}@127.0.0.1:{_closed_port()}/callvisor",
        "MONGODB_TIMEOUT_MS": "100",
        "CALLVISOR_TENANTS_FILE": "tenants.yaml",
        "MAX_CONCURRENT_CALLS": "40",
    }


def test_the_bundle_holds_what_the_guide_asks_for(demo_log: Path) -> None:
    """Call id, tenant id, the event sequence, the error context, versions, settings, MongoDB."""
    done = _report("rtc_demo_umbrella", demo_log, **_secret_env())
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith("```\ncallvisor report for call rtc_demo_umbrella\n")
    assert text.endswith("```\n")
    assert "call_id: rtc_demo_umbrella\ntenant_id: umbrella\n" in text
    assert "failed steps: 6 Instructions fetched" in text
    sequence = text.split("## Event sequence (2 lines)\n")[1].split("\n\n")[0].splitlines()
    assert [json.loads(line)["event"] for line in sequence] == ["instructions_missing", "call_rejected"]
    context = text.split("## Error context\n")[1].split("\n\n")[0]
    assert '"error_type": "InstructionsMissingError"' in context
    assert '"reason": "greeting_text_empty"' in context
    assert re.search(r"^callvisor: \d+\.\d+", text, re.MULTILINE)
    assert re.search(r"^trio: \d+\.\d+", text, re.MULTILINE)
    assert re.search(r"^pymongo: \d+\.\d+", text, re.MULTILINE)
    assert "MAX_CONCURRENT_CALLS=40\n" in text
    assert "LOG_LEVEL=INFO (default)\n" in text
    assert '"event": "service_started"' in text


def test_every_secret_is_redacted(demo_log: Path, tmp_path: Path) -> None:
    """No secret setting's value, nor the MongoDB password, appears; not even one an old log held."""
    env = _secret_env()
    log = tmp_path / "old.log"
    leaked = {"ts": "2026-01-01T00:00:00.000Z", "level": "ERROR", "logger": "callvisor",
              "msg": f"key {API_KEY} token {ADMIN_TOKEN} uri {env['MONGODB_URI']}",
              "event": "call_actor_crashed", "tenant_id": "acme-corp", "call_id": "rtc_demo_healthy"}
    log.write_text(demo_log.read_text() + json.dumps(leaked) + "\n")
    done = _report("rtc_demo_healthy", log, **env)
    assert done.returncode == 0, done.stderr
    everything = done.stdout + done.stderr
    for secret in (API_KEY, *WEBHOOK_SECRETS, ADMIN_TOKEN, MONGO_PASSWORD, env["MONGODB_URI"]):
        assert secret not in everything
    for declared in SETTINGS:
        if declared.secret:
            assert f"{declared.name}=[redacted]\n" in done.stdout
    assert "key [redacted] token [redacted] uri [redacted]" in done.stdout


def test_mongodb_unreachable_is_said_with_its_reason(demo_log: Path) -> None:
    """MONGODB_URI names a closed port: the bundle says unreachable and why, and still exits 0."""
    done = _report("rtc_demo_healthy", demo_log, **_secret_env())
    assert re.search(r"^server version: unreachable: db_(timeout|unavailable) \(\w+\)$", done.stdout, re.MULTILINE)


async def test_mongodb_version_against_a_closed_port() -> None:
    """In process, pymongo against a closed local port with a 100 ms timeout: unreachable."""
    answer = await mongodb_version(
        {"MONGODB_URI": f"mongodb://127.0.0.1:{_closed_port()}", "MONGODB_TIMEOUT_MS": "100"}
    )
    assert answer.startswith("unreachable: db_")


async def test_mongodb_not_configured() -> None:
    """No MONGODB_URI: the bundle says so instead of trying."""
    assert await mongodb_version({}) == "not configured (no MONGODB_URI)"


@pytest.mark.mongodb
@pytest.mark.skipif(not os.environ.get("MONGODB_URI"), reason="MONGODB_URI not set: no MongoDB server")
async def test_mongodb_version_of_a_real_server() -> None:
    """A reachable server answers its version (only where MONGODB_URI names one)."""
    answer = await mongodb_version(os.environ)
    assert re.fullmatch(r"\d+\.\d+.*", answer), answer


def test_a_call_not_in_the_log_still_gives_the_environment(demo_log: Path) -> None:
    """Exit 1 and the reason on stderr; the block still carries versions and settings."""
    done = _report("rtc_missing", demo_log, CALLVISOR_TENANTS_FILE="t.yaml")
    assert done.returncode == 1
    assert "callvisor: no line of call rtc_missing" in done.stderr
    assert "## Versions" in done.stdout
    assert "server version: not configured (no MONGODB_URI)" in done.stdout
    assert "problem: OPENAI_API_KEY: required, but not set" in done.stdout
