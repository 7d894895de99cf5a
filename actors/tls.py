"""The process's one client TLS context: how callvisor trusts OpenAI (and tenants' tools).

Built once at start-up by :func:`client_tls_context` and handed to call control, the sideband
and the http tools, so that no call loads a trust store or parses a certificate.  Loading a
full CA bundle costs about 17-25 ms of CPU and some 870 KiB; a context per call made TLS calls
twelve times as expensive as plaintext ones (docs/decisions/0010).

Which certificates are trusted:

* ``SSL_CERT_FILE`` (a PEM bundle) in place of the system's bundle, and ``SSL_CERT_DIR`` (an
  OpenSSL hashed directory) in place of the system's directory, each when set: the way OpenSSL
  itself reads these variables, but from the settings, so the choice is visible and checked;
* otherwise the system store OpenSSL was built with (Debian: ``/usr/lib/ssl/cert.pem`` and
  ``/usr/lib/ssl/certs``, both Debian's ``ca-certificates``).

To trust a private CA as well (a TLS-inspecting proxy), point ``SSL_CERT_FILE`` at a bundle of
the system store plus that CA (docs/operations.md).  A bundle that is unreadable or holds no
certificate is a start-up error naming the variable: every TLS connection would fail later.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from config.errors import SettingsError
from config.settings import Settings

#: Call control and http tools speak HTTP/1.1 (actors.transport); the websocket upgrade too.
ALPN_PROTOCOLS = ["http/1.1"]


def client_tls_context(settings: Settings) -> ssl.SSLContext:
    """The verifying client context for ``settings``' trust (see the module docstring).

    Raises SettingsError (``SSL_CERT_FILE: ...``) when the trust store cannot be loaded or
    holds nothing to verify a server with.
    """
    defaults = ssl.get_default_verify_paths()
    cafile = settings.ssl_cert_file or _existing(defaults.openssl_cafile, Path.is_file)
    capath = settings.ssl_cert_dir or _existing(defaults.openssl_capath, Path.is_dir)
    where = "SSL_CERT_FILE" if settings.ssl_cert_file else "SSL_CERT_FILE: not set, and the system store"
    try:
        context = ssl.create_default_context(
            cafile=None if cafile is None else str(cafile),
            capath=None if capath is None else str(capath),
        )
    except (ssl.SSLError, OSError) as exc:
        raise SettingsError([f"{where}: {cafile} holds no usable PEM certificate ({_reason(exc)})"]) from None
    if capath is None and context.cert_store_stats()["x509_ca"] == 0:
        raise SettingsError([f"{where}: {cafile or defaults.openssl_cafile} holds no CA certificate"])
    context.set_alpn_protocols(ALPN_PROTOCOLS)
    return context


class TlsSessions:
    """The TLS session of each sideband origin's last full handshake, offered by the next connection to resume.

    A resumed handshake skips the certificate chain (verified when the session was made) and
    costs about 0.2 ms of CPU less per call (docs/benchmarks.md).  A server that declines the
    ticket (expired, rotated, another machine behind the name) gets a full, verified handshake;
    nothing fails.  One entry per ``(host, port)``: the sideband has one origin.
    """

    __slots__ = ("_by_origin",)

    def __init__(self) -> None:
        self._by_origin: dict[tuple[str, int], ssl.SSLSession] = {}

    def offer(self, stream: trio.SSLStream[Any], origin: tuple[str, int]) -> None:
        """Before the handshake: let ``stream`` try to resume ``origin``'s newest session."""
        session = self._by_origin.get(origin)
        if session is not None:
            stream.session = session

    def keep(self, stream: trio.SSLStream[Any], origin: tuple[str, int]) -> None:
        """After the server has spoken (its tickets arrive after the handshake): keep its session,
        unless the handshake resumed the one kept, which then stays.

        Reading ``session`` costs, on CPython 3.11, a copy of the session that is never freed
        (about 6.5 KiB; python/cpython#116810, fixed in 3.12 and 3.13 by gh-123249): read once
        per call it was callvisor's one unbounded memory growth (``make soak``), so it is read
        after full handshakes only.
        """
        if stream.session_reused and origin in self._by_origin:
            return
        session = stream.session
        if session is not None and session.has_ticket:
            self._by_origin[origin] = session


async def open_tls_over_tcp(
    host: str, port: int, context: ssl.SSLContext, *, sessions: TlsSessions | None = None
) -> trio.SSLStream[trio.SocketStream]:
    """TCP to ``host``, then a verified TLS handshake (resuming a kept session if ``sessions``).

    A failed handshake closes the stream and raises trio's BrokenResourceError, caused by the
    SSLError (:func:`tls_failure` finds it).  The caller bounds the wait.
    """
    tcp = await trio.open_tcp_stream(host, port)
    tls = trio.SSLStream(tcp, context, server_hostname=host, https_compatible=True)
    if sessions is not None:
        sessions.offer(tls, (host, port))
    try:
        await tls.do_handshake()
    except BaseException:
        await trio.aclose_forcefully(tls)
        raise
    return tls


def _existing(path: str | None, test: Callable[[Path], bool]) -> Path | None:
    return Path(path) if path and test(Path(path)) else None


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason) if reason else type(exc).__name__


def tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind ``exc`` (trio wraps a failed handshake), or None if there is none."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def describe_tls_failure(error: ssl.SSLError) -> str:
    """One line for the log: ``certificate verify failed: unable to get local issuer certificate``."""
    if isinstance(error, ssl.SSLCertVerificationError) and error.verify_message:
        return f"certificate verify failed: {error.verify_message}"[:300]
    return (str(error.reason) if error.reason else str(error))[:300]
