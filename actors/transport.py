"""The HTTP transport under call control (the openai SDK) and the http tools: HTTP/1.1 on trio streams.

The SDK sends through an ``httpx2.AsyncClient``; by default that client's transport is
httpcore2 running on anyio on top of trio.  For a call-control request (a small JSON POST and
an empty answer) that stack cost about 1 ms of CPU of the 2.9 ms an accept took, and its
many awaits show up again as trio scheduling (measured: docs/benchmarks.md, Profile).  This
transport does the same job directly: h11 frames the request and parses the answer on a
trio ``SocketStream`` (``SSLStream`` for https), and keep-alive connections are pooled per
origin.  The SDK still builds the request, authenticates, maps statuses to its exceptions and
owns the timeouts it was given.

What it does not do, on purpose: HTTP/2, proxies (the sideband websocket does not use them
either: callvisor connects to OpenAI directly), request retries (ADR 0003: an accept is not
idempotent).  A pooled connection is reused only if the server has not closed it meanwhile
(checked without blocking before reuse) and it has been idle less than ``max_idle_s``.  TLS
uses the process's one client context (:mod:`actors.tls`), given at construction.

Failures are raised as ``httpx2`` request errors, which the SDK turns into
``APIConnectionError`` / ``APITimeoutError``; trio cancellation passes through, and a
connection interrupted mid-request is closed, never pooled.
"""

from __future__ import annotations

import select
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager

import attrs
import h11
import httpx2
import trio

from .errors import ResponseTooLarge
from .tls import open_tls_over_tcp

#: Kept-alive connections per origin; more are closed when they come back.
MAX_IDLE_PER_ORIGIN = 64
#: A pooled connection idle longer than this is closed rather than reused.
MAX_IDLE_S = 30.0
#: Call-control answers are tiny; a larger body means something is wrong.
MAX_RESPONSE_BYTES = 1 << 20
#: A request extension that lowers (or raises) the answer size cap for one request.
MAX_RESPONSE_BYTES_EXTENSION = "callvisor.max_response_bytes"

_READ_CHUNK = 65536
_NETWORK_ERRORS = (OSError, trio.BrokenResourceError, trio.ClosedResourceError, ssl.SSLError, h11.ProtocolError)
Origin = tuple[str, str, int]


@attrs.define(eq=False)
class _Connection:
    stream: trio.abc.Stream
    socket: trio.socket.SocketType
    parser: h11.Connection = attrs.field(factory=lambda: h11.Connection(h11.CLIENT))
    idle_since: float = 0.0

    def looks_closed(self) -> bool:
        """True if the peer closed (or sent something unasked): readable while idle means so.

        ``poll``, not ``select``: select cannot watch a descriptor of 1,024 or more, and a
        process holding thousands of calls hands out such descriptors to every new socket.
        """
        fd = self.socket.fileno()
        if fd < 0:
            return True
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        try:
            return bool(poller.poll(0))
        except OSError:
            return True


class TrioTransport(httpx2.AsyncBaseTransport):
    """Pooled HTTP/1.1 over trio for ``httpx2.AsyncClient(transport=...)``."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        max_idle_per_origin: int = MAX_IDLE_PER_ORIGIN,
        max_idle_s: float = MAX_IDLE_S,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._ssl_context = ssl_context
        self._max_idle_per_origin = max_idle_per_origin
        self._max_idle_s = max_idle_s
        self._max_response_bytes = max_response_bytes
        self._idle: dict[Origin, list[_Connection]] = {}
        self._closed = False

    @property
    def idle_connections(self) -> int:
        return sum(len(pool) for pool in self._idle.values())

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self._closed:
            raise httpx2.ConnectError("the transport is closed", request=request)
        origin = _origin(request)
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        body = await request.aread()
        conn = self._reusable(origin) or await self._connect(origin, request, connect_s=timeouts.get("connect"))
        done = False
        try:
            response = await self._exchange(conn, request, body, timeouts)
            done = True
        finally:
            if not done:
                # Cancelled or failed mid-exchange: the connection's state is unknown.
                await trio.aclose_forcefully(conn.stream)
        self._release(origin, conn)
        return response

    async def aclose(self) -> None:
        self._closed = True
        pools, self._idle = self._idle, {}
        for pool in pools.values():
            for conn in pool:
                await trio.aclose_forcefully(conn.stream)

    def _reusable(self, origin: Origin) -> _Connection | None:
        pool = self._idle.get(origin)
        now = time.monotonic()
        while pool:
            conn = pool.pop()
            if now - conn.idle_since < self._max_idle_s and not conn.looks_closed():
                return conn
            conn.socket.close()
        return None

    def _release(self, origin: Origin, conn: _Connection) -> None:
        parser = conn.parser
        if parser.our_state is h11.DONE and parser.their_state is h11.DONE and not self._closed:
            parser.start_next_cycle()
            pool = self._idle.setdefault(origin, [])
            if len(pool) < self._max_idle_per_origin:
                conn.idle_since = time.monotonic()
                pool.append(conn)
                return
        conn.socket.close()

    async def _connect(self, origin: Origin, request: httpx2.Request, *, connect_s: float | None) -> _Connection:
        scheme, host, port = origin
        with _deadline(connect_s, httpx2.ConnectTimeout, request), _mapped(httpx2.ConnectError, request):
            if scheme == "http":
                tcp = await trio.open_tcp_stream(host, port)
                return _Connection(stream=tcp, socket=tcp.socket)
            tls = await open_tls_over_tcp(host, port, self._ssl_context)
            return _Connection(stream=tls, socket=tls.transport_stream.socket)

    async def _exchange(
        self, conn: _Connection, request: httpx2.Request, body: bytes, timeouts: dict[str, float | None]
    ) -> httpx2.Response:
        parser = conn.parser
        with _mapped(httpx2.LocalProtocolError, request, only=h11.LocalProtocolError):
            data = parser.send(
                h11.Request(method=request.method, target=request.url.raw_path, headers=request.headers.raw)
            ) or b""
            if body:
                data += parser.send(h11.Data(data=body)) or b""
            data += parser.send(h11.EndOfMessage()) or b""
        with _deadline(timeouts.get("write"), httpx2.WriteTimeout, request), _mapped(httpx2.WriteError, request):
            await conn.stream.send_all(data)
        head: h11.Response | None = None
        chunks: list[bytes] = []
        size = 0
        limit = request.extensions.get(MAX_RESPONSE_BYTES_EXTENSION, self._max_response_bytes)
        with _deadline(timeouts.get("read"), httpx2.ReadTimeout, request), _mapped(httpx2.ReadError, request):
            while True:
                try:
                    event = parser.next_event()
                except h11.RemoteProtocolError as exc:
                    raise httpx2.RemoteProtocolError(str(exc), request=request) from exc
                if event is h11.NEED_DATA:
                    parser.receive_data(bytes(await conn.stream.receive_some(_READ_CHUNK)))
                elif isinstance(event, h11.Response):
                    head = event
                elif isinstance(event, h11.Data):
                    size += len(event.data)
                    if size > limit:
                        raise ResponseTooLarge(f"answer larger than {limit} bytes", request=request)
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise httpx2.RemoteProtocolError("server closed the connection without answering", request=request)
                # h11.InformationalResponse (1xx) is skipped: the final response follows.
        assert head is not None  # EndOfMessage comes after the Response
        return httpx2.Response(
            head.status_code,
            headers=head.headers.raw_items(),
            content=b"".join(chunks),
            request=request,
            extensions={"http_version": b"HTTP/" + head.http_version, "reason_phrase": head.reason},
        )


def _origin(request: httpx2.Request) -> Origin:
    scheme = request.url.scheme
    if scheme not in ("http", "https"):
        raise httpx2.UnsupportedProtocol(f"cannot send {scheme!r} requests", request=request)
    port = request.url.port or (443 if scheme == "https" else 80)
    return scheme, request.url.host, port


@contextmanager
def _deadline(timeout: float | None, error: type[httpx2.TimeoutException], request: httpx2.Request) -> Iterator[None]:
    if timeout is None:
        yield
        return
    try:
        with trio.fail_after(timeout):
            yield
    except trio.TooSlowError:
        raise error(f"no progress within {timeout:g} s", request=request) from None


@contextmanager
def _mapped(
    error: type[httpx2.RequestError],
    request: httpx2.Request,
    *,
    only: type[BaseException] | tuple[type[BaseException], ...] = _NETWORK_ERRORS,
) -> Iterator[None]:
    """Network failures as the httpx2 error the SDK maps to ``APIConnectionError``."""
    try:
        yield
    except httpx2.RequestError:
        raise
    except only as exc:
        # trio reports a failed TLS handshake as BrokenResourceError caused by the SSLError.
        cause = exc.__cause__ if isinstance(exc, trio.BrokenResourceError) and exc.__cause__ else exc
        raise error(f"{type(cause).__name__}: {cause}", request=request) from exc
