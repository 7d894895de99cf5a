"""The MongoDB tenant store goes away and comes back while calls arrive.

The first test runs ``callvisor serve`` as a process against a dead ``MONGODB_URI``; the second
runs the service in-process on a mongomock store whose connection is swapped for the real
driver pointed at a closed port (the outage) and back.  Both on the real clock: the driver's
own 0.5 s server-selection timeout is what fires.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx
import mongomock
import pymongo
import trio

from config.mongo_import import import_tenants
from config.mongo_source import MongoTenantSource
from config.mongo_store import FAIL_FAST_S, MongoStore
from config.prompts import DOWNTIME_GREETING, DOWNTIME_PROMPT
from config.tenants_file import FileTenantSource
from supervisor.testing import (
    EXAMPLE_TENANTS,
    LogTap,
    WebhookSigner,
    incoming_call_event,
    new_secret,
    open_callvisor,
    open_platform,
    place_call,
    settings_for,
)
from tests.serve_process import open_serve_process, serve_environment

ROOT = Path(__file__).resolve().parents[2]
GLOBEX = "sip:+18005550100@sip.example.com"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


async def test_serve_with_a_dead_database_answers_with_the_downtime_greeting() -> None:
    """MONGODB_URI unreachable from the start: the call is accepted with the fallback prompts."""
    signer = WebhookSigner(new_secret())
    async with open_platform() as platform:
        env = serve_environment(
            platform, signer,
            CALLVISOR_TENANTS_FILE="",
            MONGODB_URI=f"mongodb://127.0.0.1:{_closed_port()}/",
            MONGODB_TIMEOUT_MS="500",
        )
        async with open_serve_process(env) as service:
            with trio.fail_after(30):
                started = await service.wait_for("service_started")
                async with httpx.AsyncClient(timeout=10) as http:
                    response = await place_call(
                        started["public"], signer, incoming_call_event("rtc_dead_db"),
                        platform=platform, client=http,
                    )
                    assert response.json() == {"ok": True, "accepted": "rtc_dead_db"}
                    failure = await service.wait_for("instructions_db_error", call_id="rtc_dead_db")
                    assert failure["level"] == "ERROR"
                    assert failure["tenant_id"] == "unknown"
                    assert failure["error"]["reason"] == "db_timeout"
                    assert failure["error"]["context"] == {
                        "operation": "route_number",
                        "cause_type": "ServerSelectionTimeoutError",
                    }
                    accept = platform.requests_for("rtc_dead_db")[0].body
                    assert accept is not None
                    assert accept["instructions"] == DOWNTIME_PROMPT
                    assert "tools" not in accept
                    greeting = await platform.wait_for_client_event("rtc_dead_db", "response.create")
                    assert DOWNTIME_GREETING in greeting["response"]["instructions"]
                    metrics = (await http.get(f"{started['admin']}/metrics")).text
                    assert _metric(metrics, "fallback_instructions_used_total") == 1.0
                    await platform.call("rtc_dead_db").caller_hangup()
                    await service.wait_for("call_ended", call_id="rtc_dead_db")


def _point_store_at(store: MongoStore, client: Any) -> None:
    """Swap the store's connection: how a test takes the network to MongoDB away and back."""
    store.client = client
    store._db = client[store.database_name]


async def test_store_outage_mid_traffic_falls_back_then_recovers() -> None:
    """Healthy → outage (known number: fallback; cached route) → recovered: normal prompts again."""
    healthy = mongomock.MongoClient()
    store = MongoStore(healthy, timeout_ms=500, max_threads=1)
    await import_tenants(store, FileTenantSource.load(EXAMPLE_TENANTS), dry_run=False)
    source = MongoTenantSource(store)
    signer = WebhookSigner(new_secret())
    dead: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        f"mongodb://127.0.0.1:{_closed_port()}/", serverSelectionTimeoutMS=500, connect=False
    )
    logs = LogTap()
    with logs.installed():
        async with open_platform() as platform:
            settings = settings_for(platform, signer)
            async with open_callvisor(settings, source) as info, httpx.AsyncClient(timeout=10) as http:
                with trio.fail_after(60):

                    async def call(call_id: str, to: str = "sip:+18005551212@sip.example.com") -> dict[str, Any]:
                        response = await place_call(
                            info.public_url, signer, incoming_call_event(call_id, to=to),
                            platform=platform, client=http,
                        )
                        await logs.wait_for("call_session_started", call_id=call_id)
                        await platform.call(call_id).wait_connected()
                        body = platform.requests_for(call_id)[0].body
                        await platform.call(call_id).caller_hangup()
                        await logs.wait_for("call_ended", call_id=call_id)
                        assert response.json() == {"ok": True, "accepted": call_id}
                        assert body is not None
                        return body

                    before = await call("rtc_before")
                    assert before["instructions"].startswith("You answer the phone for Acme")
                    assert len(before["tools"]) == 3

                    _point_store_at(store, dead)
                    during = await call("rtc_during")
                    assert during["instructions"] == DOWNTIME_PROMPT
                    failure = logs.events("instructions_db_error", call_id="rtc_during")[0]
                    assert failure["tenant_id"] == "acme-corp"  # routed from the cache
                    assert failure["error"]["context"]["operation"] == "fetch_config"

                    _point_store_at(store, healthy)
                    # After a failure the store fails fast for FAIL_FAST_S (documented), then
                    # tries the server again.
                    await trio.sleep(FAIL_FAST_S)
                    after = await call("rtc_after")
                    assert after == before
                    assert not logs.events("instructions_db_error", call_id="rtc_after")
                    metrics = (await http.get(f"{info.admin_url}/metrics")).text
                    assert _metric(metrics, "fallback_instructions_used_total") == 1.0
    dead.close()
