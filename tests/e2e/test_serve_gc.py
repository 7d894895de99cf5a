"""``callvisor serve`` runs the young garbage collections itself (real process, real clock)."""

from __future__ import annotations

import httpx
import trio
from prometheus_client.parser import text_string_to_metric_families

from supervisor.service import GC_YOUNG_PERIOD_S
from supervisor.testing import WebhookSigner, new_secret, open_platform
from tests.serve_process import open_serve_process, serve_environment


def young_collections(metrics_text: str) -> float:
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "callvisor_gc_pause_seconds_count" and sample.labels == {"generation": "1"}:
                return float(sample.value)
    raise AssertionError("callvisor_gc_pause_seconds not in /metrics")


async def test_idle_serve_collects_the_young_generations_on_its_own() -> None:
    """With no traffic, /metrics shows generation-1 collections coming every GC_YOUNG_PERIOD_S."""
    signer = WebhookSigner(new_secret())
    async with (
        open_platform() as platform,
        open_serve_process(serve_environment(platform, signer)) as service,
        httpx.AsyncClient(timeout=10) as http,
    ):
        with trio.fail_after(30):
            admin = (await service.wait_for("service_started"))["admin"]
            first = young_collections((await http.get(f"{admin}/metrics")).text)
            # An idle process allocates far too little to trigger a collection by itself.
            for _ in range(40):
                await trio.sleep(GC_YOUNG_PERIOD_S)
                if young_collections((await http.get(f"{admin}/metrics")).text) >= first + 4:
                    break
            else:
                raise AssertionError("no young collections while idle")
