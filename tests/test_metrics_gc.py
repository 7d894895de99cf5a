"""The garbage collector's pauses on the operator port's ``GET /metrics``."""

from __future__ import annotations

import gc

import trio
from prometheus_client.parser import text_string_to_metric_families

from tests.rig import WAIT_S, Rig


async def gc_pause_counts(rig: Rig) -> dict[str, float]:
    """``callvisor_gc_pause_seconds_count`` by generation, as scraped."""
    with trio.fail_after(WAIT_S):
        response = await rig.http.get(f"{rig.admin_url}/metrics")
    assert response.status_code == 200
    counts = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "callvisor_gc_pause_seconds_count":
                counts[sample.labels["generation"]] = sample.value
    return counts


async def test_a_forced_full_collection_is_counted(rig: Rig, mock_clock: trio.testing.MockClock) -> None:
    """After gc.collect(), GET /metrics counts one more generation-2 pause of the process."""
    before = await gc_pause_counts(rig)
    assert set(before) == {"0", "1", "2"}
    gc.collect()
    after = await gc_pause_counts(rig)
    assert after["2"] >= before["2"] + 1
    assert after["0"] >= before["0"]
    assert after["1"] >= before["1"]
