"""``callvisor serve`` re-reads its tenants file on SIGHUP, as a real process (real clock, bounded)."""

from __future__ import annotations

import signal
from pathlib import Path

import trio

from supervisor.testing import EXAMPLE_TENANTS, WebhookSigner, new_secret, open_platform
from tests.serve_process import open_serve_process, serve_environment


async def test_sighup_reloads_the_tenants_file_and_the_process_keeps_serving(tmp_path: Path) -> None:
    """SIGHUP: tenants_reloaded names the changed tenant; a broken file then: tenants_reload_failed."""
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(EXAMPLE_TENANTS.read_text())
    signer = WebhookSigner(new_secret())
    async with open_platform() as platform:
        env = serve_environment(platform, signer, CALLVISOR_TENANTS_FILE=str(tenants))
        async with open_serve_process(env) as service:
            with trio.fail_after(30):
                await service.wait_for("service_started")
                tenants.write_text(tenants.read_text().replace("id: globex", "id: globex-renamed"))
                service.process.send_signal(signal.SIGHUP)
                reloaded = await service.wait_for("tenants_reloaded")
                assert (reloaded["trigger"], reloaded["added"], reloaded["removed"]) == (
                    "SIGHUP", ["globex-renamed"], ["globex"],
                )
                tenants.write_text("tenants: {")
                service.process.send_signal(signal.SIGHUP)
                failed = await service.wait_for("tenants_reload_failed")
                assert "not valid YAML" in failed["problems"][0]
                assert service.process.returncode is None  # a reload never stops the process
                assert service.events("drain_started") == []
