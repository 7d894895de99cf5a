"""Capacity: per-tenant and global limits, under bursts, and slots given back when calls end."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest
import trio
import trio.testing

from tests.rig import GLOBEX

if TYPE_CHECKING:
    from tests.lifecycle.conftest import Driver

BURST = 10
GLOBAL_LIMIT = 3


async def test_tenant_at_its_limit_is_rejected_busy(driver: Driver, mock_clock: trio.testing.MockClock) -> None:
    """globex allows one call: a second concurrent call is rejected with SIP 486, reason tenant_capacity."""
    first = await driver.start("rtc_globex_1", to=GLOBEX)
    response = await driver.rig.call("rtc_globex_2", to=GLOBEX)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "rejected": "capacity"}
    reject = await driver.request("reject", "rtc_globex_2")
    assert reject.body == {"status_code": 486}
    assert driver.platform.actions("rtc_globex_2") == ["reject"]
    rejected = await driver.log("call_rejected", "rtc_globex_2")
    assert rejected["tenant_id"] == "globex"
    assert rejected["reason"] == "tenant_capacity"
    assert rejected["rejected"] == "capacity"
    assert rejected["sip_status"] == 486

    tree = await driver.actors()
    assert tree["capacity"]["by_tenant"] == {"globex": 1}
    assert [call["call_id"] for call in tree["calls"]] == ["rtc_globex_1"]

    # The slot comes back when the first call ends: the next call is accepted.
    await driver.caller_hangup(first)
    third = await driver.start("rtc_globex_3", to=GLOBEX)
    await driver.caller_hangup(third)
    await driver.assert_no_leaks()


@pytest.mark.parametrize("rig_env", [{"MAX_CONCURRENT_CALLS": str(GLOBAL_LIMIT)}], ids=["global_3"])
async def test_burst_admits_exactly_the_global_limit(driver: Driver, mock_clock: trio.testing.MockClock) -> None:
    """Ten simultaneous calls with MAX_CONCURRENT_CALLS=3: three accepted, seven rejected global_capacity."""
    responses: dict[str, httpx.Response] = {}

    async def place(call_id: str) -> None:
        responses[call_id] = await driver.rig.call(call_id)

    async with trio.open_nursery() as nursery:
        for i in range(BURST):
            nursery.start_soon(place, f"rtc_burst_{i}")

    accepted = sorted(cid for cid, r in responses.items() if r.json() == {"ok": True, "accepted": cid})
    rejected = sorted(cid for cid, r in responses.items() if r.json() == {"ok": True, "rejected": "capacity"})
    assert len(accepted) == GLOBAL_LIMIT
    assert len(rejected) == BURST - GLOBAL_LIMIT
    assert all(r.status_code == 200 for r in responses.values())

    requests = driver.platform.requests
    assert sorted(r.call_id for r in requests if r.action == "accept") == accepted
    assert sorted(r.call_id for r in requests if r.action == "reject") == rejected
    assert {r.body["status_code"] for r in requests if r.action == "reject" and r.body} == {486}
    reasons = {line["call_id"]: line["reason"] for line in driver.logs.events("call_rejected")}
    assert reasons == dict.fromkeys(rejected, "global_capacity")

    tree = await driver.actors()
    assert tree["capacity"] == {"used": 3, "limit": 3, "by_tenant": {"acme-corp": 3}}
    assert sorted(call["call_id"] for call in tree["calls"]) == accepted
    samples = await driver.metrics()
    assert samples.value("callvisor_calls_active", tenant_id="acme-corp") == 3
    assert samples.value("callvisor_capacity_in_use", scope="global") == 3
    assert samples.value("callvisor_capacity_limit", scope="global") == 3
    assert samples.value("callvisor_calls_total", outcome="accepted", reason="") == 3
    assert samples.value("callvisor_calls_total", outcome="rejected", reason="capacity") == 7

    for call_id in accepted:
        await driver.rig.wait_session(call_id)
        ended = await driver.caller_hangup(driver.platform.call(call_id))
        assert ended["reason"] == "caller_hangup"
    await driver.assert_no_leaks()

    tree = await driver.actors()
    assert tree["capacity"] == {"used": 0, "limit": 3, "by_tenant": {}}
    samples = await driver.metrics()
    assert sum(samples.named("callvisor_calls_active").values()) == 0
    assert samples.value("callvisor_capacity_in_use", scope="global") == 0
    assert samples.value("callvisor_calls_total", outcome="ended", reason="caller_hangup") == 3

    # Free again: a new call is admitted.
    call = await driver.start("rtc_after_burst")
    await driver.caller_hangup(call)
    await driver.assert_no_leaks()


async def test_calls_active_reads_zero_after_the_calls_end(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """callvisor_calls_active{tenant_id="acme-corp"} reads 0 (not missing) once acme's calls have ended."""
    call = await driver.start("rtc_gauge")
    samples = await driver.metrics()
    assert samples.value("callvisor_calls_active", tenant_id="acme-corp") == 1
    await driver.caller_hangup(call)
    await driver.assert_no_leaks()
    samples = await driver.metrics()
    assert samples.value("callvisor_calls_active", tenant_id="acme-corp") == 0
