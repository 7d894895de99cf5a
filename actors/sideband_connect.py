"""Where a call's sideband is, how one attempt reaches it, and what a failed attempt means.

Shared by both runtimes' sessions (``actors.session``): :class:`Target` is read once from the
sideband's URL; :func:`open_stream` opens TCP, and TLS for ``wss`` with the process's one
context; :func:`start_failure` turns what an attempt raised into the
``call_session_start_failed`` reason an operator reads.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import h11
import trio
from attrs import frozen
from trio_websocket import ConnectionRejected, HandshakeError
from wsproto.utilities import ProtocolError as WebSocketProtocolError

from .errors import SessionStartFailed
from .tls import TlsSessions, describe_tls_failure, open_tls_over_tcp, tls_failure

Stream = trio.SocketStream | trio.SSLStream[trio.SocketStream]


@frozen
class Target:
    """Where one call's sideband is: read once from its URL, used by every attempt."""

    host: str
    port: int
    tls: bool
    #: The path and query the upgrade asks for.
    resource: str

    @classmethod
    def of(cls, url: str) -> Target:
        parts = urlsplit(url)
        tls = parts.scheme == "wss"
        path = parts.path or "/"
        return cls(
            host=parts.hostname or "",
            port=parts.port or (443 if tls else 80),
            tls=tls,
            resource=f"{path}?{parts.query}" if parts.query else path,
        )

    @property
    def origin(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def host_header(self) -> str:
        return self.host if self.port in (80, 443) else f"{self.host}:{self.port}"


async def open_stream(target: Target, ssl_context: ssl.SSLContext, sessions: TlsSessions) -> Stream:
    """TCP to the sideband's host, with the TLS handshake done (and verified) for ``wss``."""
    if not target.tls:
        return await trio.open_tcp_stream(target.host, target.port)
    return await open_tls_over_tcp(target.host, target.port, ssl_context, sessions=sessions)


#: What a broken upgrade answer raises from the handshake (h11 parses it, wsproto checks it).
PROTOCOL_ERRORS = (h11.ProtocolError, WebSocketProtocolError)
#: What a failed attempt raises, from the reader task or from our own waits (``start_failure``
#: says what each means).
START_ERRORS = (
    HandshakeError, trio.TooSlowError, trio.BrokenResourceError, OSError, SessionStartFailed, *PROTOCOL_ERRORS,
)


def start_failure(exc: BaseException) -> SessionStartFailed:
    """What a failed attempt (not a 404) means for the call: ``call_session_start_failed``'s reason."""
    if isinstance(exc, SessionStartFailed):
        return exc
    if isinstance(exc, trio.TooSlowError):
        return SessionStartFailed("timeout", "the sideband was not up in time")
    if isinstance(exc, ConnectionRejected):
        return SessionStartFailed("handshake_rejected", f"HTTP {exc.status_code}")
    if isinstance(exc, trio.BrokenResourceError):
        tls = tls_failure(exc)
        if tls is None:
            return SessionStartFailed("handshake_failed", type(exc).__name__)
        return SessionStartFailed("tls_error", describe_tls_failure(tls))
    # A refused port, a reset, or an upgrade answer that breaks the protocol (a wrong
    # Sec-WebSocket-Accept is h11's LocalProtocolError, from trio-websocket's reader).
    return SessionStartFailed("handshake_failed", f"{type(exc).__name__}: {exc}"[:300])
