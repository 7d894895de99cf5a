"""``callvisor simulate``: the simulated platform in a process of its own, driven over HTTP."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

from config.settings import Settings
from supervisor.testing import (
    EXAMPLE_TENANTS,
    LogTap,
    WebhookSigner,
    incoming_call_event,
    live_incoming_event,
    new_secret,
    open_callvisor,
    place_call,
)

ROOT = Path(__file__).resolve().parents[2]


def system_bundle_with(ca_file: Path, bundle: Path) -> Path:
    """The system's CA bundle with ``ca_file`` appended, written to ``bundle``."""
    system = Path(ssl.get_default_verify_paths().openssl_cafile).read_bytes()
    bundle.write_bytes(system + b"\n" + ca_file.read_bytes())
    return bundle


@pytest.mark.parametrize("tls", [False, True], ids=["plaintext", "tls"])
async def test_a_separate_simulator_serves_a_whole_call(tls: bool, tmp_path: Path) -> None:
    """Webhook → accept seen by the simulator; a scripted tool call; caller hangup ends the call.

    With ``--tls --ca-file``, callvisor trusts the written CA as production would a private CA:
    SSL_CERT_FILE names a copy of the system bundle with the CA appended.
    """
    signer = WebhookSigner(new_secret())
    ca_file = tmp_path / "ca.pem"
    tls_args = ["--tls", "--ca-file", str(ca_file)] if tls else []
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "supervisor.commands.cli", "simulate", "--api-key", "sk-sim-test", *tls_args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        with trio.fail_after(30):
            assert process.stdout is not None
            first_line = b""
            while not first_line.endswith(b"\n"):
                first_line += await process.stdout.receive_some(4096)
            urls = json.loads(first_line)
            trust = {}
            if tls:
                assert urls["base_url"].startswith("https://")
                assert urls["realtime_url"].startswith("wss://")
                assert urls["ca_file"] == str(ca_file)
                trust = {"SSL_CERT_FILE": str(system_bundle_with(ca_file, tmp_path / "bundle.pem"))}
            settings = Settings.from_env(
                {
                    **trust,
                    "OPENAI_API_KEY": urls["api_key"],
                    "OPENAI_WEBHOOK_SECRET": signer.secret,
                    "OPENAI_BASE_URL": urls["base_url"],
                    "OPENAI_REALTIME_URL": urls["realtime_url"],
                    "CALLVISOR_TENANTS_FILE": str(EXAMPLE_TENANTS),
                    "CALLVISOR_HTTP": "127.0.0.1:0",
                    "CALLVISOR_ADMIN": "127.0.0.1:0",
                    "CALLVISOR_TOOL_ALLOWED_HOSTS": "tools.acme.example",
                }
            )
            control = urls["control_url"]
            logs = LogTap()
            with logs.installed():
                async with open_callvisor(settings) as info, httpx.AsyncClient(timeout=10) as http:
                    response = await place_call(info.public_url, signer, incoming_call_event("rtc_sep"), client=http)
                    assert response.json() == {"ok": True, "accepted": "rtc_sep"}
                    requests = (await http.get(f"{control}/requests", params={"call_id": "rtc_sep"})).json()
                    assert [r["action"] for r in requests["requests"]] == ["accept"]
                    assert requests["requests"][0]["body"]["type"] == "realtime"
                    await logs.wait_for("call_session_started", call_id="rtc_sep")

                    tool = await http.post(
                        f"{control}/calls/rtc_sep/function_call",
                        json={"name": "nonexistent_tool", "arguments": "{}"},
                    )
                    assert tool.status_code == 200
                    failure = await logs.wait_for("tool_execution_failed", call_id="rtc_sep")
                    assert failure["error"]["reason"] == "tool_not_found"

                    await http.post(f"{control}/calls/rtc_sep/hangup", json={"abrupt": False})
                    ended = await logs.wait_for("call_ended", call_id="rtc_sep")
                    assert ended["reason"] == "caller_hangup"
                    state = (await http.get(f"{control}/state")).json()
                    assert state["open_sidebands"] == 0
    finally:
        process.terminate()
        with trio.move_on_after(5):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()


LIVE_TENANTS = ROOT / "config" / "examples" / "tenants-live.yaml"
WONKA = "sip:+18005550200@sip.example.com"


async def test_settings_reflect_audio_on_a_live_call_driven_by_its_session_id(tmp_path: Path) -> None:
    """POST /settings turns reflected audio on (callvisor counts the frames in GET /actors), refuses
    a frame length under 1 ms, and /calls/{session_id}/hangup ends the Live call as the caller."""
    signer = WebhookSigner(new_secret())
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "supervisor.commands.cli", "simulate", "--api-key", "sk-sim-test"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        with trio.fail_after(30):
            assert process.stdout is not None
            first_line = b""
            while not first_line.endswith(b"\n"):
                first_line += await process.stdout.receive_some(4096)
            urls = json.loads(first_line)
            control = urls["control_url"]
            settings = Settings.from_env(
                {
                    "OPENAI_API_KEY": urls["api_key"],
                    "OPENAI_WEBHOOK_SECRET": signer.secret,
                    "OPENAI_BASE_URL": urls["base_url"],
                    "OPENAI_REALTIME_URL": urls["realtime_url"],
                    "OPENAI_LIVE_URL": urls["live_url"],
                    "CALLVISOR_TENANTS_FILE": str(LIVE_TENANTS),
                    "CALLVISOR_HTTP": "127.0.0.1:0",
                    "CALLVISOR_ADMIN": "127.0.0.1:0",
                }
            )
            logs = LogTap()
            with logs.installed():
                async with open_callvisor(settings) as info, httpx.AsyncClient(timeout=10) as http:
                    refused = await http.post(f"{control}/settings", json={"audio_frame_ms": 0})
                    assert refused.status_code == 400
                    answer = await http.post(f"{control}/settings", json={"reflect_audio": True, "audio_frame_ms": 50})
                    assert answer.json()["reflect_audio"] is True
                    assert answer.json()["audio_frame_ms"] == 50
                    event = live_incoming_event("live_sep", to=WONKA)
                    response = await place_call(info.public_url, signer, event, client=http)
                    assert response.json() == {"ok": True, "accepted": "live_sep"}
                    await logs.wait_for("call_session_started", call_id="live_sep")
                    frames = 0
                    while frames < 5:  # 20 a second: what GET /actors shows, polled
                        view = (await http.get(f"{info.admin_url}/actors/live_sep")).json()
                        frames = view["session"].get("audio_frames", 0)
                        await trio.sleep(0.1)
                    assert view["session"]["events_received"] < 5

                    await http.post(f"{control}/calls/live_sep/hangup", json={})
                    ended = await logs.wait_for("call_ended", call_id="live_sep")
                    assert ended["reason"] == "caller_hangup"
                    assert ended["closed_reason"] == "remote_hangup"
    finally:
        process.terminate()
        with trio.move_on_after(5):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
