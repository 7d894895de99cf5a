"""Call control over the trio HTTP/1.1 transport, against scripted servers on loopback.

The simulated platform covers the normal paths (tests/e2e/test_intake_call_control.py); here a
small h11 server misbehaves on purpose, so that the connection pool's choices (reuse, discard,
close) and the mapping of network failures to our reason codes are seen from both ends.
"""

from __future__ import annotations

import json
import os
import resource
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import h11
import httpx2
import pytest
import trio
import trustme

from actors.control import CallControl
from actors.errors import CallAcceptError, ToolExecutionError
from actors.tls import client_tls_context
from actors.tools import run_tool, tool_http_client
from actors.transport import TrioTransport
from config.models import HttpTool
from config.settings import Settings

#: What a process without SSL_CERT_FILE trusts: the system store (actors.tls), one per test run.
SYSTEM_TLS = client_tls_context(Settings(openai_api_key="sk-test", webhook_secrets=(b"k",)))

SESSION = {"model": "gpt-realtime", "instructions": "Be brief.", "audio": {"output": {"voice": "marin"}}}

#: What the server does with one parsed request: answer, or misbehave.
Behaviour = Callable[["Exchange"], Awaitable[None]]


@attrs.define
class Exchange:
    server: ScriptedServer
    connection: int
    stream: trio.abc.Stream
    conn: h11.Connection
    request: h11.Request
    body: bytes

    async def answer(self, status: int = 200, body: bytes = b"", *, chunked: bool = False) -> None:
        headers = [("Content-Type", "application/json")]
        headers.append(("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(len(body))))
        data = self.conn.send(h11.Response(status_code=status, headers=headers)) or b""
        if body:
            data += self.conn.send(h11.Data(data=body)) or b""
        data += self.conn.send(h11.EndOfMessage()) or b""
        await self.stream.send_all(data)


@attrs.define
class ScriptedServer:
    """An HTTP/1.1 server whose n-th request gets the n-th behaviour (the last one repeats)."""

    behaviours: list[Behaviour]
    base_url: str = ""
    connections: int = 0
    requests: list[tuple[int, str, dict[str, Any]]] = attrs.field(factory=list)
    closed_by_client: int = 0
    #: One item each time a client closes its connection.
    closes: tuple[trio.MemorySendChannel[int], trio.MemoryReceiveChannel[int]] = attrs.field(
        factory=lambda: trio.open_memory_channel[int](100)
    )

    def client_gone(self, connection: int) -> None:
        self.closed_by_client += 1
        self.closes[0].send_nowait(connection)

    async def client_closed(self) -> None:
        """Wait (bounded) until a client closes a connection."""
        with trio.fail_after(5):
            await self.closes[1].receive()

    async def handle(self, stream: trio.abc.Stream) -> None:
        self.connections += 1
        number = self.connections
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request, body = await _read_request(stream, conn)
                if request is None:
                    self.client_gone(number)
                    return
                self.requests.append((number, request.target.decode(), json.loads(body or b"{}")))
                behaviour = self.behaviours[min(len(self.requests), len(self.behaviours)) - 1]
                await behaviour(Exchange(self, number, stream, conn, request, body))
                if conn.our_state is not h11.DONE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
        finally:
            await trio.aclose_forcefully(stream)


async def _read_request(stream: trio.abc.Stream, conn: h11.Connection) -> tuple[h11.Request | None, bytes]:
    request = None
    body = b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return request, body
        elif isinstance(event, h11.ConnectionClosed):
            return None, b""


async def ok(exchange: Exchange) -> None:
    await exchange.answer(200)


async def ok_then_close(exchange: Exchange) -> None:
    """Answer with keep-alive, then close the connection while the client holds it idle."""
    await exchange.answer(200)
    await trio.sleep(0.05)
    await exchange.stream.aclose()
    exchange.conn.send(h11.ConnectionClosed())


async def hang_up_without_answer(exchange: Exchange) -> None:
    await exchange.stream.aclose()


async def never_answer(exchange: Exchange) -> None:
    """Say nothing; return once the client gives up and closes the connection."""
    while await exchange.stream.receive_some(65536):
        pass
    exchange.server.client_gone(exchange.connection)


async def server_error(exchange: Exchange) -> None:
    await exchange.answer(500, b'{"error": {"message": "boom"}}')


async def chunked_ok(exchange: Exchange) -> None:
    await exchange.answer(200, b'{"ok": true}', chunked=True)


async def huge_answer(exchange: Exchange) -> None:
    await exchange.answer(200, b"x" * 5000)


async def order_found(exchange: Exchange) -> None:
    await exchange.answer(200, json.dumps({"order": exchange.body.decode(), "status": "shipped"}).encode())


async def redirect(exchange: Exchange) -> None:
    data = exchange.conn.send(
        h11.Response(status_code=302, headers=[("Location", "http://elsewhere.invalid/"), ("Content-Length", "0")])
    ) or b""
    data += exchange.conn.send(h11.EndOfMessage()) or b""
    await exchange.stream.send_all(data)


@asynccontextmanager
async def scripted_server(
    *behaviours: Behaviour, tls: trustme.CA | None = None
) -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer(list(behaviours))
    handler: Callable[[trio.abc.Stream], Awaitable[None]] = server.handle
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.issue_cert("127.0.0.1", "localhost").configure_cert(context)

        async def handler(stream: trio.abc.Stream) -> None:
            wrapped = trio.SSLStream(stream, context, server_side=True, https_compatible=True)
            try:
                await wrapped.do_handshake()
            except trio.BrokenResourceError:
                await trio.aclose_forcefully(wrapped)
                return
            await server.handle(wrapped)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        server.base_url = f"{'https' if tls else 'http'}://localhost:{port}/v1"
        yield server
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def call_control(server: ScriptedServer, *, timeout_s: float = 5.0) -> AsyncIterator[CallControl]:
    control = CallControl.create(
        api_key="sk-test", base_url=server.base_url, timeout_s=timeout_s, ssl_context=SYSTEM_TLS
    )
    try:
        yield control
    finally:
        await control.aclose()


async def test_accepts_share_one_kept_alive_connection() -> None:
    async with scripted_server(ok) as server, call_control(server) as control:
        for n in range(3):
            await control.accept(f"rtc_{n}", SESSION)
    assert server.connections == 1
    assert [(conn, target) for conn, target, _ in server.requests] == [
        (1, f"/v1/realtime/calls/rtc_{n}/accept") for n in range(3)
    ]
    # The session is sent as built, beside the type the SDK requires.
    assert server.requests[0][2] == {"type": "realtime", **SESSION}


@contextmanager
def descriptors_above(limit: int) -> Iterator[None]:
    """Hold open descriptors until every new socket gets one at or above ``limit``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < limit + 200:
        pytest.skip(f"the descriptor limit ({hard}) is below {limit + 200}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, limit + 200), hard))
    held: list[int] = []
    try:
        while (fd := os.open(os.devnull, os.O_RDONLY)) < limit:
            held.append(fd)
        os.close(fd)
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_connections_are_reused_when_the_process_holds_over_1024_descriptors(
    scheme: str, tmp_path: Path
) -> None:
    """select() cannot watch a descriptor >= 1024; the pool's idle check must, or every accept reconnects."""
    ca = trustme.CA() if scheme == "https" else None
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(ca.cert_pem.bytes() if ca else b"")
    with descriptors_above(1024):
        async with scripted_server(ok, tls=ca) as server:
            tls = client_tls_context(Settings(openai_api_key="k", webhook_secrets=(b"k",), ssl_cert_file=bundle)) if ca else SYSTEM_TLS
            control = CallControl.create(api_key="sk-test", base_url=server.base_url, timeout_s=5, ssl_context=tls)
            try:
                for n in range(5):
                    await control.accept(f"rtc_{n}", SESSION)
            finally:
                await control.aclose()
            probe = os.open(os.devnull, os.O_RDONLY)
            os.close(probe)
    assert probe >= 1024  # so the pooled socket's descriptor was above 1024 as well
    assert len(server.requests) == 5
    assert server.connections == 1


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async with scripted_server(ok_then_close) as server, call_control(server) as control:
        await control.accept("rtc_1", SESSION)
        await trio.sleep(0.2)  # the server closes its end meanwhile
        await control.accept("rtc_2", SESSION)
    assert server.connections == 2
    assert len(server.requests) == 2


async def test_server_closing_without_an_answer_is_a_connection_error() -> None:
    async with scripted_server(hang_up_without_answer) as server, call_control(server) as control:
        with pytest.raises(CallAcceptError) as caught:
            await control.accept("rtc_1", SESSION)
    assert caught.value.reason == "connection_error"
    assert len(server.requests) == 1  # sent once: no blind retry


async def test_a_silent_server_is_a_timeout_and_the_connection_is_dropped() -> None:
    async with scripted_server(never_answer, ok) as server, call_control(server, timeout_s=0.3) as control:
        with pytest.raises(CallAcceptError) as caught:
            await control.accept("rtc_1", SESSION)
        assert caught.value.reason == "timeout"
        await control.accept("rtc_2", SESSION)
    # The interrupted connection was closed, not handed to the next request.
    assert [conn for conn, _, _ in server.requests] == [1, 2]


async def test_server_errors_keep_their_status() -> None:
    async with scripted_server(server_error) as server, call_control(server) as control:
        with pytest.raises(CallAcceptError) as caught:
            await control.accept("rtc_1", SESSION)
    assert (caught.value.reason, caught.value.context["status"]) == ("openai_5xx", 500)


async def test_nothing_listening_is_a_connection_error() -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        control = CallControl.create(
            api_key="sk-test", base_url=f"http://127.0.0.1:{port}/v1", timeout_s=5, ssl_context=SYSTEM_TLS
        )
        with pytest.raises(CallAcceptError) as caught:
            await control.accept("rtc_1", SESSION)
        await control.aclose()
    assert caught.value.reason == "connection_error"


async def test_chunked_answers_are_read_whole() -> None:
    async with scripted_server(chunked_ok) as server, httpx2.AsyncClient(transport=TrioTransport(ssl_context=SYSTEM_TLS)) as client:
        response = await client.post(f"{server.base_url}/x", json={})
    assert (response.status_code, response.json()) == (200, {"ok": True})


async def test_an_oversized_answer_is_refused_and_its_connection_closed() -> None:
    transport = TrioTransport(ssl_context=SYSTEM_TLS, max_response_bytes=1000)
    async with scripted_server(huge_answer) as server, httpx2.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx2.ReadError, match="larger than 1000 bytes"):
            await client.post(f"{server.base_url}/x", json={})
        assert transport.idle_connections == 0
        await server.client_closed()


async def test_a_cancelled_request_closes_its_connection() -> None:
    transport = TrioTransport(ssl_context=SYSTEM_TLS)
    async with scripted_server(never_answer) as server, httpx2.AsyncClient(transport=transport) as client:
        with trio.move_on_after(0.2):
            await client.post(f"{server.base_url}/x", json={})
        assert transport.idle_connections == 0
        await server.client_closed()
        assert len(server.requests) == 1


async def test_idle_connections_are_bounded_and_closed_with_the_client() -> None:
    transport = TrioTransport(ssl_context=SYSTEM_TLS, max_idle_per_origin=2)
    async with scripted_server(ok) as server:
        async with httpx2.AsyncClient(transport=transport) as client:
            async with trio.open_nursery() as nursery:
                for _ in range(5):
                    nursery.start_soon(client.post, f"{server.base_url}/x")
            assert transport.idle_connections == 2
        assert transport.idle_connections == 0
        for _ in range(server.connections):
            await server.client_closed()
    with pytest.raises(httpx2.ConnectError, match="closed"):
        await transport.handle_async_request(httpx2.Request("POST", f"{server.base_url}/x"))


async def test_https_verifies_the_server_certificate() -> None:
    ca = trustme.CA()
    async with scripted_server(ok, tls=ca) as server:
        trusted = ssl.create_default_context()
        ca.configure_trust(trusted)
        async with httpx2.AsyncClient(transport=TrioTransport(ssl_context=trusted)) as client:
            assert (await client.post(f"{server.base_url}/x")).status_code == 200
            assert (await client.post(f"{server.base_url}/x")).status_code == 200
        assert server.connections == 1
        # The default trust store does not know the test CA: no request reaches the server.
        async with httpx2.AsyncClient(transport=TrioTransport(ssl_context=SYSTEM_TLS)) as client:
            with pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.post(f"{server.base_url}/x")
        assert len(server.requests) == 2


def lookup_tool(server: ScriptedServer, **kwargs: Any) -> HttpTool:
    return HttpTool(name="lookup_order", description="Look up an order", url=f"{server.base_url}/orders", **kwargs)


async def run_lookup(server: ScriptedServer, **kwargs: Any) -> dict[str, Any]:
    async with tool_http_client(SYSTEM_TLS) as http:
        result = await run_tool(lookup_tool(server, **kwargs), {"order": "A1"}, http, trio.CapacityLimiter(4))
    return result.output


async def test_http_tools_post_through_the_trio_transport() -> None:
    async with scripted_server(order_found) as server:
        output = await run_lookup(server)
    assert output == {"ok": True, "result": {"order": '{"order":"A1"}', "status": "shipped"}}
    assert server.requests[0][1:] == ("/v1/orders", {"order": "A1"})


async def test_http_tool_answer_over_its_cap_is_too_large() -> None:
    async with scripted_server(huge_answer) as server:
        with pytest.raises(ToolExecutionError) as caught:
            await run_lookup(server, max_response_bytes=4096)
        await server.client_closed()  # stopped reading: the connection is dropped
    assert caught.value.reason == "tool_response_too_large"


async def test_http_tools_do_not_follow_redirects() -> None:
    async with scripted_server(redirect) as server:
        with pytest.raises(ToolExecutionError) as caught:
            await run_lookup(server)
    assert (caught.value.reason, caught.value.context["status"]) == ("tool_http_error", 302)
    assert len(server.requests) == 1


async def test_an_http_tool_that_hangs_up_is_unreachable() -> None:
    async with scripted_server(hang_up_without_answer) as server:
        with pytest.raises(ToolExecutionError) as caught:
            await run_lookup(server)
    assert (caught.value.reason, caught.value.context["cause_type"]) == ("tool_unreachable", "RemoteProtocolError")
