"""The production path: call control over https, the sideband over wss, http tools over https.

OpenAI serves only TLS, so the main lifecycle runs twice here, over plaintext and over TLS,
with the simulated platform's certificate signed by a test CA that callvisor trusts the way a
deployment trusts a private CA (``SSL_CERT_FILE`` naming the system bundle plus that CA).  Then
what must never happen on that path: a certificate that does not verify crashing a call, and a
TLS context (a trust-store load) made per call.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing
import yaml
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import Response, request

from supervisor.json_app import create_json_app, json_response
from supervisor.testing import PlatformTls, open_platform
from tests.rig import ACME

if TYPE_CHECKING:
    from tests.lifecycle.conftest import OpenDriver

GRACE_S = 5.0
TRANSPORTS = ["plaintext", "tls"]


@pytest.fixture(params=TRANSPORTS)
def tls(request: pytest.FixtureRequest) -> bool:
    return bool(request.param == "tls")


async def test_main_lifecycle(open_driver: OpenDriver, tls: bool, mock_clock: trio.testing.MockClock) -> None:
    """Accept, greeting, a tool call, end_call, an operator hangup and a drain, each as OpenAI sees it."""
    async with open_driver({"CALLVISOR_DRAIN_GRACE_S": str(GRACE_S)}, tls=tls) as driver:
        platform = driver.platform
        assert platform.base_url.startswith("https://" if tls else "http://")
        assert platform.realtime_url.startswith("wss://" if tls else "ws://")

        # accept and greeting
        call = await driver.start("rtc_main")
        accept = await driver.request("accept", "rtc_main")
        assert accept.body is not None
        assert accept.body["type"] == "realtime"
        greeting = await driver.client_event("rtc_main", "response.create")
        assert "thanks for calling Acme" in greeting["response"]["instructions"]

        # a tool the tenant does not have: the model is told, the call goes on
        tool_call_id = await driver.function_call(call, "no_such_tool", "{}")
        assert (await driver.tool_output(call, tool_call_id))["error"] == "tool_not_found"

        # end_call: output, goodbye, then the hangup over the same transport
        end_id = await driver.function_call(call, "end_call", '{"reason": "done"}')
        assert await driver.tool_output(call, end_id) == {"ok": True, "status": "ending_call"}
        await driver.request("hangup", "rtc_main")
        ended = await driver.ended("rtc_main")
        assert (ended["reason"], ended["tool_calls"]) == ("end_call", 2)
        assert platform.actions("rtc_main") == ["accept", "hangup"]

        # operator hangup
        await driver.start("rtc_operator")
        response = await driver.admin("POST", "/actors/rtc_operator/hangup")
        assert response.status_code == 202
        assert (await driver.ended("rtc_operator"))["reason"] == "operator_hangup"
        assert platform.actions("rtc_operator") == ["accept", "hangup"]

        # drain: the next call is rejected over the same transport, the live one hung up
        await driver.start("rtc_drained")
        assert (await driver.admin("POST", "/drain")).status_code == 202
        refused = await driver.rig.call("rtc_refused")
        assert refused.json() == {"ok": True, "rejected": "draining"}
        assert (await driver.request("reject", "rtc_refused")).body == {"status_code": 503}
        assert (await driver.ended("rtc_drained"))["reason"] == "drain"
        assert platform.actions("rtc_drained") == ["accept", "hangup"]
        await driver.assert_no_leaks(via_http=False)

        # Kept-alive call control: the seven requests above came on very few connections.
        assert len(platform.requests) == 7
        assert platform.connections_seen <= 2
        crashed = [line for line in driver.logs.lines if line.get("event") == "call_actor_crashed"]
        assert crashed == []


# -- certificates that do not verify ---------------------------------------------------------


async def test_call_control_with_an_unknown_ca_fails_the_accept_with_the_tls_reason(
    open_driver: OpenDriver, tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    """OpenAI's certificate from a CA callvisor does not trust: 503 call_accept_failed, reason tls_error."""
    stranger = PlatformTls()  # callvisor trusts the system store plus this CA, not the platform's
    bundle = stranger.write_trust_bundle(tmp_path / "bundle.pem")
    async with open_driver({"SSL_CERT_FILE": str(bundle)}, tls=True) as driver:
        response = await driver.rig.call("rtc_wrong_ca")
        assert response.status_code == 503
        assert response.json() == {"ok": False, "error": "call_accept_failed", "retry": True}
        failed = await driver.log("call_accept_failed", "rtc_wrong_ca")
        assert failed["level"] == "ERROR"
        assert failed["error"]["reason"] == "tls_error"
        assert failed["error"]["context"]["tls_reason"] == (
            "certificate verify failed: unable to get local issuer certificate"
        )
        # The handshake failed before any request: OpenAI saw nothing.
        assert driver.platform.requests == []
        assert driver.logs.events("call_actor_crashed") == []
        await driver.assert_no_leaks()


async def test_call_control_with_a_wrong_host_name_fails_the_accept(
    open_driver: OpenDriver, mock_clock: trio.testing.MockClock
) -> None:
    """A trusted CA, but a certificate for another host: call_accept_failed names the mismatch."""
    async with open_driver(tls=PlatformTls(hostnames=["api.openai.example"])) as driver:
        response = await driver.rig.call("rtc_wrong_host")
        assert response.status_code == 503
        failed = await driver.log("call_accept_failed", "rtc_wrong_host")
        assert failed["error"]["reason"] == "tls_error"
        assert failed["error"]["context"]["tls_reason"] == (
            "certificate verify failed: IP address mismatch, certificate is not valid for '127.0.0.1'."
        )
        assert driver.platform.requests == []
        await driver.assert_no_leaks()


@pytest.mark.parametrize("problem", ["unknown_ca", "wrong_host"])
async def test_sideband_certificate_that_does_not_verify_fails_the_session_start(
    open_driver: OpenDriver, problem: str, tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    """Call control verifies, the sideband's certificate does not: call_session_start_failed, tls_error, hung up."""
    trusted = PlatformTls()
    if problem == "unknown_ca":
        sideband_tls, expected = PlatformTls(), "unable to get local issuer certificate"
    else:
        sideband_tls, expected = PlatformTls(ca=trusted.ca, hostnames=["realtime.example"]), "IP address mismatch"
    async with open_platform(tls=sideband_tls) as sideband:
        env = {"OPENAI_REALTIME_URL": sideband.realtime_url}
        async with open_driver(env, tls=trusted) as driver:
            response = await driver.rig.call("rtc_bad_sideband")
            assert response.json() == {"ok": True, "accepted": "rtc_bad_sideband"}
            failed = await driver.log("call_session_start_failed", "rtc_bad_sideband")
            assert failed["level"] == "ERROR"
            assert failed["reason"] == "tls_error"
            assert expected in failed["detail"]
            ended = await driver.ended("rtc_bad_sideband")
            assert ended["reason"] == "session_start_failed"
            # Hung up through REST, which does verify; nothing got through to the sideband.
            assert driver.platform.actions("rtc_bad_sideband") == ["accept", "hangup"]
            assert sideband.handshakes == []
            assert driver.logs.events("call_actor_crashed") == []
            await driver.assert_no_leaks()


# -- http tools trust what call control trusts -----------------------------------------------


@asynccontextmanager
async def tool_endpoint_over_tls(tls: PlatformTls) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """An https endpoint with a certificate of ``tls``' CA; yields its URL and the bodies it got."""
    received: list[dict[str, Any]] = []

    app = create_json_app("tests.tool_endpoint")

    @app.post("/orders")
    async def orders() -> Response:
        received.append(json.loads(await request.get_data(as_text=False)))
        return json_response(200, {"status": "shipped"})

    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    async with trio.open_nursery() as nursery:
        with tls.server_pem_file() as pem:
            config.certfile = config.keyfile = pem
            binds = await nursery.start(partial(serve, app, config))
        yield f"{binds[0]}/orders", received
        nursery.cancel_scope.cancel()


def tenants_with_tool(tmp_path: Path, url: str) -> Path:
    tenant = {
        "id": "acme-corp",
        "phone_numbers": ["+18005551212"],
        "state": {"greeting_id": "g", "instruction_id": "i"},
        "config": {
            "schema_version": 1,
            "model": "gpt-realtime",
            "tools": [{"kind": "http", "name": "lookup_order", "description": "Look up an order.", "url": url}],
        },
        "prompts": {"greetings": {"g": "Hello."}, "instructions": {"i": "Help."}},
    }
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump({"tenants": [tenant]}))
    return path


async def test_http_tool_over_https_uses_the_same_trust(
    open_driver: OpenDriver, tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    """A tenant's https tool whose certificate comes from the CA in SSL_CERT_FILE is reached and answered."""
    tls = PlatformTls()
    async with tool_endpoint_over_tls(tls) as (url, received):
        tenants = tenants_with_tool(tmp_path, url)
        async with open_driver({"CALLVISOR_TENANTS_FILE": str(tenants)}, tls=tls) as driver:
            call = await driver.start("rtc_tool", to=ACME)
            tool_call_id = await driver.function_call(call, "lookup_order", '{"order_number": "A1"}')
            output = await driver.tool_output(call, tool_call_id)
            assert output == {"ok": True, "result": {"status": "shipped"}}
            assert received == [{"order_number": "A1"}]
            await driver.caller_hangup(call)
            await driver.assert_no_leaks()


async def test_http_tool_whose_certificate_does_not_verify_is_a_tls_error_to_the_model(
    open_driver: OpenDriver, tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    """The tool's certificate comes from a CA callvisor does not trust: tool_tls_error with OpenSSL's
    reason in the log, the model told, the call goes on; nothing reached the tool."""
    tls = PlatformTls()
    async with tool_endpoint_over_tls(PlatformTls()) as (url, received):
        tenants = tenants_with_tool(tmp_path, url)
        async with open_driver({"CALLVISOR_TENANTS_FILE": str(tenants)}, tls=tls) as driver:
            call = await driver.start("rtc_tool_untrusted", to=ACME)
            tool_call_id = await driver.function_call(call, "lookup_order", '{"order_number": "A1"}')
            assert (await driver.tool_output(call, tool_call_id))["error"] == "tool_tls_error"
            failed = await driver.log("tool_execution_failed", "rtc_tool_untrusted")
            assert failed["error"]["reason"] == "tool_tls_error"
            assert failed["error"]["context"]["tls_reason"].startswith("certificate verify failed")
            assert received == []
            await driver.caller_hangup(call)
            await driver.assert_no_leaks()


# -- one context per process -----------------------------------------------------------------


@contextmanager
def counting_tls_contexts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record every SSLContext made and every trust-store load while the block runs."""
    made: list[str] = []
    original_new = ssl.SSLContext.__new__
    original_load = ssl.SSLContext.load_verify_locations

    def new(cls: type[ssl.SSLContext], *args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append("context")
        return original_new(cls, *args, **kwargs)

    def load(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        made.append("trust store")
        original_load(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "__new__", new)
    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", load)
    try:
        yield made
    finally:
        monkeypatch.undo()


async def test_tls_calls_share_the_process_context(
    open_driver: OpenDriver, monkeypatch: pytest.MonkeyPatch, mock_clock: trio.testing.MockClock
) -> None:
    """Ten TLS calls, each accepted, greeted and hung up: no TLS context made, no trust store
    loaded, and every sideband after the first resumes the TLS session."""
    async with open_driver(tls=True) as driver:
        await driver.start("rtc_warm")  # the platform's server side is warm too
        await driver.caller_hangup(driver.platform.call("rtc_warm"))
        with counting_tls_contexts(monkeypatch) as made:
            for n in range(10):
                call = await driver.start(f"rtc_{n}")
                await driver.client_event(f"rtc_{n}", "response.create")
                await driver.caller_hangup(call)
        assert made == []
        service = driver.rig.info.service
        assert service.tls is service.supervisor.env.tls
        # The first sideband made a full handshake; each later one resumed its TLS session.
        resumed = [handshake.tls_resumed for handshake in driver.platform.handshakes]
        assert resumed == [False] + [True] * 10
        await driver.assert_no_leaks()
