"""A minimal HTTP/1.1 keep-alive client over trio sockets, for load generation.

httpx costs more CPU per request than the servers under test spend answering it, so the load
generator writes requests as prepared bytes and reads answers with a small parser: a status
line, headers up to the blank line, then ``Content-Length`` bytes of body.  Chunked answers
are refused (neither server under test sends them for these routes).

A server may close a keep-alive connection at any time (hypercorn after
``keep_alive_timeout`` idle seconds or ``keep_alive_max_requests`` answers, uvicorn likewise);
:class:`ConnectionLost` says whether any byte of the answer had arrived, so that the caller
can tell "closed while idle, safe to resend" from "lost mid-answer".
"""

from __future__ import annotations

import trio

MAX_HEADER_BYTES = 64 * 1024


class ConnectionLost(Exception):
    """The server closed the connection before a whole answer arrived."""

    def __init__(self, *, partial: bool) -> None:
        super().__init__("connection lost mid-answer" if partial else "connection closed")
        self.partial = partial


class Answer:
    """One HTTP answer."""

    __slots__ = ("body", "close", "status")

    def __init__(self, status: int, body: bytes, close: bool) -> None:
        self.status = status
        self.body = body
        self.close = close


class Connection:
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self.requests = 0

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        return cls(await trio.open_tcp_stream(host, port))

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self._stream)

    async def send(self, raw: bytes) -> None:
        try:
            await self._stream.send_all(raw)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            raise ConnectionLost(partial=False) from None

    async def receive(self) -> Answer:
        head = await self._read_head()
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"connection":
                close = value.strip().lower() == b"close"
            elif name == b"transfer-encoding":
                raise ValueError("chunked answers are not supported by this client")
        while len(self._buffer) < length:
            await self._fill(partial=True)
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        self.requests += 1
        return Answer(status, body, close)

    async def request(self, raw: bytes) -> Answer:
        await self.send(raw)
        return await self.receive()

    async def _read_head(self) -> bytes:
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self._buffer[:end])
                del self._buffer[: end + 4]
                return head
            if len(self._buffer) > MAX_HEADER_BYTES:
                raise ValueError("answer head too long")
            await self._fill(partial=bool(self._buffer))

    async def _fill(self, *, partial: bool) -> None:
        try:
            chunk = await self._stream.receive_some(65536)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            raise ConnectionLost(partial=partial) from None
        if not chunk:
            raise ConnectionLost(partial=partial)
        self._buffer += chunk


def build_request(
    method: str, path: str, host: str, *, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    """The bytes of one HTTP/1.1 request."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
