"""Fixtures for the call-lifecycle tests: a driver over the rig, and a fake tool endpoint.

``driver``
    A :class:`Driver` over the ``rig`` fixture (example tenants, ``rig_env`` overrides).
``tool_driver``
    The same over a rig whose http tools are answered by ``tool_endpoint`` (an
    ``httpx2.MockTransport``): acme-corp's ``lookup_order`` tool
    (``https://tools.acme.example/orders``, ``timeout_s: 4``) reaches it.

Every test here runs on ``mock_clock`` (real loopback sockets, virtual time): a 30-minute call
limit or a 15 s transfer timeout costs a fraction of a real second.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from supervisor.testing import RecordedRequest, SimulatedCall
from tests.rig import ACME, WAIT_S, Rig, open_rig


class Samples(dict[tuple[str, tuple[tuple[str, str], ...]], float]):
    """The samples of one ``GET /metrics``, keyed by (sample name, sorted labels)."""

    def value(self, name: str, **labels: str) -> float | None:
        """One sample's value, or None when the series is absent."""
        return self.get((name, tuple(sorted(labels.items()))))

    def named(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        """Every sample called ``name``, by labels."""
        return {labels: value for (sample, labels), value in self.items() if sample == name}


class Driver:
    """Drives calls through a :class:`Rig` and reads what an operator would see."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.platform = rig.platform
        self.logs = rig.logs

    # -- calls ------------------------------------------------------------------------------

    async def start(self, call_id: str, *, to: str = ACME) -> SimulatedCall:
        """Place a call that must be accepted; return it once its sideband is up."""
        response = await self.rig.call(call_id, to=to)
        assert response.status_code == 200
        assert response.json() == {"ok": True, "accepted": call_id}
        await self.rig.wait_session(call_id)
        return self.platform.call(call_id)

    async def ended(self, call_id: str) -> dict[str, Any]:
        """The call's ``call_ended`` line, once logged."""
        return await self.rig.wait_log("call_ended", call_id=call_id)

    async def log(self, event: str, call_id: str | None = None) -> dict[str, Any]:
        return await self.rig.wait_log(event, call_id=call_id)

    async def request(self, action: str, call_id: str, *, nth: int = 1) -> RecordedRequest:
        """The ``nth`` ``action`` request the platform received for ``call_id``."""
        with trio.fail_after(WAIT_S):
            return await self.platform.wait_for_request(action, call_id, nth=nth)

    async def client_event(self, call_id: str, event_type: str, *, nth: int = 1) -> dict[str, Any]:
        with trio.fail_after(WAIT_S):
            return await self.platform.wait_for_client_event(call_id, event_type, nth=nth)

    async def tool_output(self, call: SimulatedCall, tool_call_id: str) -> dict[str, Any]:
        """The parsed ``function_call_output`` the model received for ``tool_call_id``."""
        with trio.fail_after(WAIT_S):
            event = await call.wait_tool_output(tool_call_id)
        output: dict[str, Any] = json.loads(event["item"]["output"])
        return output

    async def function_call(self, call: SimulatedCall, name: str, arguments: str, **kwargs: Any) -> str:
        with trio.fail_after(WAIT_S):
            return await call.function_call(name, arguments, **kwargs)

    def tool_outputs(self, call: SimulatedCall, tool_call_id: str) -> list[dict[str, Any]]:
        """Every ``function_call_output`` item sent for ``tool_call_id`` so far."""
        return [
            event["item"]
            for event in call.client_events
            if event.get("type") == "conversation.item.create"
            and event["item"].get("type") == "function_call_output"
            and event["item"].get("call_id") == tool_call_id
        ]

    async def caller_hangup(self, call: SimulatedCall) -> dict[str, Any]:
        """The caller hangs up (close 1000); returns the ``call_ended`` line."""
        with trio.fail_after(WAIT_S):
            await call.caller_hangup()
        return await self.ended(call.call_id)

    # -- operator port ----------------------------------------------------------------------

    async def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with trio.fail_after(WAIT_S):
            return await self.rig.http.request(method, f"{self.rig.admin_url}{path}", **kwargs)

    async def public(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with trio.fail_after(WAIT_S):
            return await self.rig.http.request(method, f"{self.rig.url}{path}", **kwargs)

    async def actors(self) -> dict[str, Any]:
        response = await self.admin("GET", "/actors")
        assert response.status_code == 200
        tree: dict[str, Any] = response.json()
        return tree

    async def metrics(self) -> Samples:
        """Every sample of ``GET /metrics``."""
        response = await self.admin("GET", "/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        samples = Samples()
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    # -- leaks ------------------------------------------------------------------------------

    async def assert_no_leaks(self, *, via_http: bool = True) -> None:
        """No sideband open on the platform, no call registered, no capacity slot taken."""
        with trio.fail_after(WAIT_S):
            await self.platform.wait_sidebands_closed()
        assert self.platform.open_sidebands() == 0
        supervisor = self.rig.supervisor
        assert supervisor.calls == {}
        assert supervisor.capacity.in_use == 0
        assert dict(supervisor.capacity.by_tenant) == {}
        if via_http:
            tree = await self.actors()
            assert tree["calls"] == []
            assert tree["capacity"]["used"] == 0
            assert tree["capacity"]["by_tenant"] == {}


class ToolEndpoint:
    """The tenant's http tool endpoint, answered in-process through ``httpx2.MockTransport``.

    ``reply`` builds each response (default: the order is shipped); ``delay_s`` sleeps first
    (virtual time); ``hold`` (a ``trio.Event``) keeps every request open until it is set.
    """

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self.reply: Callable[[httpx2.Request], httpx2.Response] = self.shipped
        self.delay_s = 0.0
        self.hold: trio.Event | None = None
        self._arrived: trio.Event | None = None

    @staticmethod
    def shipped(request: httpx2.Request) -> httpx2.Response:
        order = json.loads(request.content or b"{}").get("order_number")
        return httpx2.Response(200, json={"order_number": order, "status": "shipped"})

    async def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if self._arrived is not None:
            self._arrived.set()
        if self.delay_s:
            await trio.sleep(self.delay_s)
        if self.hold is not None:
            await self.hold.wait()
        return self.reply(request)

    async def wait_request(self) -> httpx2.Request:
        """Until at least one request has arrived; return the first."""
        with trio.fail_after(WAIT_S):
            while not self.requests:
                self._arrived = trio.Event()
                await self._arrived.wait()
        return self.requests[0]


OpenDriver = Callable[..., AbstractAsyncContextManager[Driver]]


@pytest.fixture
def driver(rig: Rig) -> Driver:
    return Driver(rig)


@pytest.fixture
def open_driver() -> OpenDriver:
    """``async with open_driver(env, **open_rig_kwargs) as driver``: a rig of the test's own."""

    @asynccontextmanager
    async def open_(env: dict[str, str] | None = None, **kwargs: Any) -> AsyncIterator[Driver]:
        async with open_rig(env, **kwargs) as rig:
            yield Driver(rig)

    return open_


@pytest.fixture
def tool_endpoint() -> ToolEndpoint:
    return ToolEndpoint()


@pytest.fixture
async def tool_rig(rig_env: dict[str, str], tool_endpoint: ToolEndpoint) -> AsyncIterator[Rig]:
    """A rig whose http tools are answered by ``tool_endpoint``."""
    async with open_rig(rig_env, tool_transport=httpx2.MockTransport(tool_endpoint.handle)) as rig:
        yield rig


@pytest.fixture
def tool_driver(tool_rig: Rig) -> Driver:
    return Driver(tool_rig)
