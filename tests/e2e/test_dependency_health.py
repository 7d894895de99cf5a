"""What GET /ready and /metrics say of the tenant store and of OpenAI call control.

/ready keeps its meaning (200 while calls are admitted): a tenant-store outage does not make a
replica unready, since the downtime prompts still serve calls, except in cluster mode, where the
store holds the capacity leases and every new call is refused; the body names each dependency's
state either way.  The MongoDB tests run ``callvisor serve`` against a closed port on the real
clock (the store's own probe notices without any call); the call-control test runs in-process.
"""

from __future__ import annotations

import socket

import httpx
import trio
import trio.testing

from supervisor.testing import WebhookSigner, new_secret, open_platform
from tests.rig import Rig
from tests.serve_process import open_serve_process, serve_environment


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _samples(text: str, name: str) -> dict[str, float]:
    """Every sample of ``name`` in a Prometheus text body, by its label string."""
    found = {}
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            key, _, value = line.rpartition(" ")
            found[key.removeprefix(name)] = float(value)
    return found


async def test_call_control_failing_then_ok_shows_in_ready_and_metrics(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """A 503 on accept: call_control failing (reason, since), still ready, a failure counted; then ok."""
    ready = (await rig.admin("GET", "/ready")).json()
    assert ready["dependencies"] == {
        "tenant_store": {"source": "file", "state": "ok"},
        "call_control": {
            "state": "unknown", "since": None, "last_reason": None,
            "last_failure_at": None, "last_success_at": None,
        },
    }
    rig.platform.fail("accept", status=503)
    assert (await rig.call("rtc_health_1")).status_code == 503
    answer = await rig.admin("GET", "/ready")
    control = answer.json()["dependencies"]["call_control"]
    assert (answer.status_code, answer.json()["ready"]) == (200, True)
    assert (control["state"], control["last_reason"]) == ("failing", "openai_5xx")
    assert control["since"] == control["last_failure_at"] is not None
    metrics = (await rig.admin("GET", "/metrics")).text
    assert _samples(metrics, "callvisor_call_control_failures_total") == {
        '{action="accept",kind="openai_5xx"}': 1.0
    }
    assert _samples(metrics, "callvisor_tenant_store_up") == {"": 1.0}

    assert (await rig.call("rtc_health_1")).json() == {"ok": True, "accepted": "rtc_health_1"}
    control = (await rig.admin("GET", "/ready")).json()["dependencies"]["call_control"]
    assert (control["state"], control["last_reason"]) == ("ok", "openai_5xx")
    assert control["last_success_at"] is not None
    limits = _samples((await rig.admin("GET", "/metrics")).text, "callvisor_tenant_capacity_limit")
    assert limits == {'{tenant_id="acme-corp"}': 10.0}  # acme's limits.max_concurrent_calls
    await rig.platform.call("rtc_health_1").caller_hangup()
    await rig.wait_log("call_ended", call_id="rtc_health_1")


async def _ready_while_the_store_is_down(cluster: bool) -> tuple[httpx.Response, str]:
    signer = WebhookSigner(new_secret())
    async with open_platform() as platform:
        env = serve_environment(
            platform, signer,
            CALLVISOR_TENANTS_FILE="",
            MONGODB_URI=f"mongodb://127.0.0.1:{_closed_port()}/",
            MONGODB_TIMEOUT_MS="300",
            CALLVISOR_CLUSTER="mongodb" if cluster else "none",
        )
        async with open_serve_process(env) as service, httpx.AsyncClient(timeout=10) as http:
            with trio.fail_after(30):
                admin = (await service.wait_for("service_started"))["admin"]
                while True:  # the start-up probe's ping times out after about 0.5 s
                    answer = await http.get(f"{admin}/ready")
                    if answer.json()["dependencies"]["tenant_store"]["state"] == "failing":
                        break
                    await trio.sleep(0.1)
                return answer, (await http.get(f"{admin}/metrics")).text


async def test_a_dead_tenant_store_is_reported_without_a_call_and_the_replica_stays_ready() -> None:
    """MongoDB down, no call placed: /ready 200 naming the store failing; store_up 0."""
    answer, metrics = await _ready_while_the_store_is_down(cluster=False)
    store = answer.json()["dependencies"]["tenant_store"]
    assert (answer.status_code, answer.json()["ready"]) == (200, True)
    assert (store["source"], store["last_reason"], store["last_success_at"]) == ("mongodb", "db_timeout", None)
    assert _samples(metrics, "callvisor_tenant_store_up") == {"": 0.0}
    assert _samples(metrics, "callvisor_tenant_store_seconds_since_success") == {}


async def test_in_cluster_mode_a_dead_store_makes_the_replica_unready() -> None:
    """Cluster mode: the store holds the capacity leases, every new call is refused: /ready 503."""
    answer, metrics = await _ready_while_the_store_is_down(cluster=True)
    assert (answer.status_code, answer.json()["ok"], answer.json()["ready"]) == (503, False, False)
    assert answer.json()["draining"] is False
    assert _samples(metrics, "callvisor_tenant_store_up") == {"": 0.0}
