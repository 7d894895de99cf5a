"""deploy/kubernetes: parsed, and held to what callvisor reads and serves.

Ports, environment and timings are checked against config/settings.py (defaults and the
validation ``callvisor serve`` runs); the probe and preStop commands and the liveness path are
run against a real ``callvisor serve`` holding a live call; the memory request against the
benchmark's figures.  No cluster is at hand (kubectl needs one even for a client dry run), so
the API schemas are not checked here.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import httpx
import trio

from config.settings import Settings, read_variables
from supervisor.testing import (
    WebhookSigner,
    incoming_call_event,
    new_secret,
    open_platform,
    place_call,
)
from tests.deploy.kit import ROOT, kubernetes_object
from tests.serve_process import open_serve_process, serve_environment

DEFAULTS = Settings(openai_api_key="k", webhook_secrets=(b"s",))
_MIB = 1024 * 1024


def _pod() -> dict[str, Any]:
    spec: dict[str, Any] = kubernetes_object("Deployment")["spec"]["template"]["spec"]
    return spec


def _container() -> dict[str, Any]:
    (container,) = _pod()["containers"]
    return dict(container)


def _env() -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in _container()["env"]}


def _literal_env() -> dict[str, str]:
    return {name: item["value"] for name, item in _env().items() if "value" in item}


def _ports() -> dict[str, int]:
    return {port["name"]: port["containerPort"] for port in _container()["ports"]}


def _prestop_delay_s() -> float:
    script = _container()["lifecycle"]["preStop"]["exec"]["command"][-1]
    before_drain = script.split("/drain")[0]  # the wait before the drain (a later one polls)
    (delay,) = re.findall(r"time\.sleep\(([0-9.]+)\)", before_drain)
    return float(delay)


def test_the_container_ports_are_the_ones_callvisor_binds() -> None:
    """http and admin are CALLVISOR_HTTP's and CALLVISOR_ADMIN's ports, as set and by default."""
    binds = read_variables(_literal_env(), ["CALLVISOR_HTTP", "CALLVISOR_ADMIN"])
    assert _ports() == {"http": binds["CALLVISOR_HTTP"].port, "admin": binds["CALLVISOR_ADMIN"].port}
    assert _ports() == {"http": DEFAULTS.http_bind.port, "admin": DEFAULTS.admin_bind.port}


def test_the_environment_is_one_callvisor_serve_accepts_in_cluster_mode() -> None:
    """With the Secret's keys and the pod name filled in, Settings.from_env accepts it:
    cluster mode with MONGODB_URI, a non-loopback operator port with ADMIN_TOKEN."""
    secret = kubernetes_object("Secret")["stringData"]
    environ = {}
    for name, item in _env().items():
        source = item.get("valueFrom", {})
        if "value" in item:
            environ[name] = item["value"]
        elif "secretKeyRef" in source:
            assert source["secretKeyRef"]["name"] == "callvisor"
            environ[name] = secret[source["secretKeyRef"]["key"]]
        else:
            assert source == {"fieldRef": {"fieldPath": "metadata.name"}}, name
            environ[name] = "callvisor-7d9f8-abcde"
    environ["OPENAI_WEBHOOK_SECRET"] = "whsec_" + "c2VjcmV0"  # the placeholder is not base64
    settings = Settings.from_env(environ)
    assert (settings.cluster, settings.replica_id) == ("mongodb", "callvisor-7d9f8-abcde")
    assert not settings.admin_bind.is_loopback
    secret_names = {n for n, item in _env().items() if "secretKeyRef" in item.get("valueFrom", {})}
    assert secret_names == {"MONGODB_URI", "OPENAI_API_KEY", "OPENAI_WEBHOOK_SECRET", "ADMIN_TOKEN"}


def test_the_grace_period_outlasts_the_prestop_delay_and_a_drain() -> None:
    """terminationGracePeriodSeconds > preStop's wait + CALLVISOR_DRAIN_GRACE_S + 20 s."""
    grace = read_variables(_literal_env(), ["CALLVISOR_DRAIN_GRACE_S"])["CALLVISOR_DRAIN_GRACE_S"]
    assert grace >= DEFAULTS.drain_grace_s
    assert _pod()["terminationGracePeriodSeconds"] > _prestop_delay_s() + grace + 20


def test_liveness_is_the_public_ports_health() -> None:
    """GET /health on the public port (the path is checked against a live service below)."""
    assert _container()["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}


def test_the_memory_request_follows_the_benchmark() -> None:
    """request >= baseline + the fleet's calls spread over the replicas; limit >= baseline +
    the fleet's calls on one replica (docs/benchmarks/results.json, TLS runs, worst figures)."""
    results = json.loads((ROOT / "docs" / "benchmarks" / "results.json").read_text(encoding="utf-8"))
    runs = [results[key] for key in ("concurrency", "concurrency_httpless") if results[key]["tls"]]
    baseline = max(run["baseline_rss_bytes"] for run in runs)
    per_call = max(level["rss_per_call_kib"] for run in runs for level in run["levels"]) * 1024
    calls = read_variables(_literal_env(), ["MAX_CONCURRENT_CALLS"])["MAX_CONCURRENT_CALLS"]
    replicas = kubernetes_object("Deployment")["spec"]["replicas"]
    resources = _container()["resources"]
    request = _mebibytes(resources["requests"]["memory"]) * _MIB
    limit = _mebibytes(resources["limits"]["memory"]) * _MIB
    assert request >= baseline + math.ceil(calls / replicas) * per_call
    assert limit >= baseline + calls * per_call


def _mebibytes(quantity: str) -> int:
    number, unit = re.fullmatch(r"([0-9]+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


def test_the_services_and_the_budget_select_the_pods() -> None:
    """Both Services and the PodDisruptionBudget select the Deployment's pods, name its ports,
    and the operator Service lists draining (unready) replicas, so they are still scraped."""
    labels = kubernetes_object("Deployment")["spec"]["template"]["metadata"]["labels"]
    public, admin = kubernetes_object("Service"), kubernetes_object("Service", "callvisor-admin")
    budget = kubernetes_object("PodDisruptionBudget")
    for selector in (public["spec"]["selector"], admin["spec"]["selector"], budget["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= labels.items()
    assert [p["targetPort"] for p in public["spec"]["ports"]] == ["http"]
    assert [p["targetPort"] for p in admin["spec"]["ports"]] == ["admin"]
    assert admin["spec"]["publishNotReadyAddresses"] is True
    assert budget["spec"]["maxUnavailable"] == 1


async def test_the_probes_and_prestop_work_against_callvisor_serve() -> None:
    """Against a real `callvisor serve` with ADMIN_TOKEN and a live call: readiness exits 0,
    with a wrong token 1; /health answers 200; preStop drains (readiness then fails) and returns
    once the process is gone, after the live call ended."""
    signer, token = WebhookSigner(new_secret()), "kit-admin-token-0123456789"
    readiness = _container()["readinessProbe"]["exec"]["command"]
    prestop = _container()["lifecycle"]["preStop"]["exec"]["command"]
    async with open_platform() as platform:
        env = serve_environment(platform, signer, ADMIN_TOKEN=token, CALLVISOR_DRAIN_GRACE_S="30")
        async with open_serve_process(env) as service, httpx.AsyncClient(timeout=10) as http:
            with trio.fail_after(60):
                started = await service.wait_for("service_started")
                hook_env = {
                    "PATH": env["PATH"], "ADMIN_TOKEN": token, "CALLVISOR_DRAIN_GRACE_S": "30",
                    "CALLVISOR_ADMIN": started["admin"].removeprefix("http://"),
                    "CALLVISOR_HTTP": started["public"].removeprefix("http://"),
                }

                async def run(command: list[str], **changes: str) -> int:
                    done = await trio.run_process(command, env={**hook_env, **changes}, check=False, capture_stderr=True)
                    return done.returncode

                assert await run(readiness) == 0
                assert await run(readiness, ADMIN_TOKEN="wrong") == 1
                health = await http.get(started["public"] + _container()["livenessProbe"]["httpGet"]["path"])
                assert health.status_code == 200
                answer = await place_call(
                    started["public"], signer, incoming_call_event("rtc_kit_live"), platform=platform, client=http
                )
                assert answer.json() == {"ok": True, "accepted": "rtc_kit_live"}
                await service.wait_for("call_session_started", call_id="rtc_kit_live")
                async with trio.open_nursery() as nursery:
                    returned: list[int] = []

                    async def run_prestop() -> None:
                        returned.append(await run(prestop))

                    nursery.start_soon(run_prestop)
                    await service.wait_for("drain_started")
                    assert await run(readiness) == 1
                    await platform.call("rtc_kit_live").caller_hangup()
                    await service.wait_for("service_stopped")
                assert returned == [0]
                assert await service.process.wait() == 0
