"""The fault matrix, tenant store: MongoDB down, slow, and flapping while calls arrive.

The store is the production ``MongoStore`` with the real driver (pymongo) in every failing
case: pointed at a closed port (down), or at a server that accepts connections and never
answers (slow), or swapped between a mongomock database and the closed port call after call
(flapping; mongomock stands in for a healthy MongoDB).  On the real clock: the driver's own
timeouts fire, in real time, with ``MONGODB_TIMEOUT_MS`` at 500.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from typing import Any

import mongomock
import pymongo
import pytest
import trio

from config.mongo_import import import_tenants
from config.mongo_source import MongoTenantSource
from config.mongo_store import FAIL_FAST_S, MongoStore, client_options
from config.prompts import DOWNTIME_GREETING, DOWNTIME_PROMPT
from config.tenants_file import FileTenantSource
from supervisor.commands.faults import Fault, faults_of
from supervisor.testing import EXAMPLE_TENANTS
from tests.faults.matrix import WAIT_S, check_documented, check_nothing_left
from tests.rig import ACME, Rig, open_rig

TIMEOUT_MS = 500


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MuteMongo:
    """A MongoDB that accepts connections and never answers: reads until the client leaves."""

    def __init__(self) -> None:
        self.connections = 0

    async def swallow(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        try:
            while await stream.receive_some():
                pass
        except trio.BrokenResourceError:
            pass


def driver_for(port: int) -> pymongo.MongoClient[dict[str, Any]]:
    return pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/", connect=False, **client_options(TIMEOUT_MS))


def point_store_at(store: MongoStore, client: Any) -> None:
    """Swap the store's connection: how these tests take MongoDB away and give it back."""
    store.client = client
    store._db = client[store.database_name]


@asynccontextmanager
async def store_rig(fault: Fault, mute: MuteMongo) -> AsyncIterator[tuple[Rig, MongoStore, Any, Any]]:
    """A rig on a MongoDB store; yields it, the store, a healthy and a failing client."""
    async with AsyncExitStack() as stack:
        nursery = await stack.enter_async_context(trio.open_nursery())
        stack.callback(nursery.cancel_scope.cancel)
        healthy = mongomock.MongoClient()
        if fault.name == "store_slow":
            listeners = await nursery.start(partial(trio.serve_tcp, mute.swallow, 0, host="127.0.0.1"))
            failing = driver_for(listeners[0].socket.getsockname()[1])
        else:
            failing = driver_for(closed_port())
        stack.callback(failing.close)
        store = MongoStore(healthy, timeout_ms=TIMEOUT_MS, max_threads=1)
        await import_tenants(store, FileTenantSource.load(EXAMPLE_TENANTS), dry_run=False)
        if fault.name != "store_flapping":
            point_store_at(store, failing)
        env = {"MONGODB_TIMEOUT_MS": str(TIMEOUT_MS)}
        rig = await stack.enter_async_context(open_rig(env, source=MongoTenantSource(store)))
        yield rig, store, healthy, failing


async def place(rig: Rig, call_id: str) -> tuple[Any, dict[str, Any], str]:
    """Place a call, wait for its greeting; returns the answer, the accept body and the greeting."""
    response = await rig.call(call_id, to=ACME)
    with trio.fail_after(WAIT_S):
        greeting = await rig.platform.wait_for_client_event(call_id, "response.create")
    accept = rig.platform.requests_for(call_id)[0].body
    assert accept is not None
    return response, accept, greeting["response"]["instructions"]


async def hang_up(rig: Rig, call_id: str) -> None:
    with trio.fail_after(WAIT_S):
        await rig.platform.call(call_id).caller_hangup()
        await rig.logs.wait_for("call_ended", call_id=call_id)


def fell_back(rig: Rig, call_id: str, accept: dict[str, Any], greeting: str) -> bool:
    """Whether the call got the downtime prompts (and the log says so), or its tenant's own."""
    fallback = accept["instructions"] == DOWNTIME_PROMPT
    assert (DOWNTIME_GREETING in greeting) is fallback
    assert bool(rig.logs.events("instructions_db_error", call_id=call_id)) is fallback
    accepted = rig.logs.events("call_accepted", call_id=call_id)[0]
    assert accepted.get("fallback", False) is fallback
    return fallback


@pytest.mark.parametrize("fault", faults_of("tenant store"), ids=lambda fault: fault.name)
async def test_tenant_store_fault_ends_as_documented(fault: Fault) -> None:
    """MongoDB down, slow or flapping: calls are answered, with the downtime prompts while it fails."""
    mute = MuteMongo()
    async with store_rig(fault, mute) as (rig, store, healthy, failing):
        if fault.name != "store_flapping":
            response, accept, greeting = await place(rig, "rtc_store")
            assert fell_back(rig, "rtc_store", accept, greeting)
            assert "tools" not in accept
            await check_documented(fault, rig, "rtc_store", response)
            assert (mute.connections > 0) is (fault.name == "store_slow")
            await hang_up(rig, "rtc_store")
        else:
            fallbacks = []
            for n, client in enumerate([healthy, failing, healthy, None, failing, healthy]):
                if client is None:  # the store comes back, but is not retried within FAIL_FAST_S
                    await trio.sleep(FAIL_FAST_S)
                    client = healthy
                point_store_at(store, client)
                response, accept, greeting = await place(rig, f"rtc_flap_{n}")
                fallbacks.append(fell_back(rig, f"rtc_flap_{n}", accept, greeting))
                if n == 1:
                    await check_documented(fault, rig, "rtc_flap_1", response)
                assert response.json() == {"ok": True, "accepted": f"rtc_flap_{n}"}
                await hang_up(rig, f"rtc_flap_{n}")
            assert fallbacks == [False, True, True, False, True, True]
            fast = rig.logs.events("instructions_db_error", call_id="rtc_flap_2")[0]
            assert fast["error"]["context"]["fail_fast"] is True
        await check_nothing_left(rig)
