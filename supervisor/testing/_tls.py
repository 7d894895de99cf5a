"""TLS for the simulated platform (private; see supervisor.testing): a test CA and its server cert.

The platform serves https and wss with a certificate signed by a throw-away CA (trustme), so
callvisor's production TLS path runs unmodified against it: callvisor is told to trust the CA the
way a deployment behind a private CA would be, through ``SSL_CERT_FILE`` naming a bundle of the
system store plus that CA (:meth:`PlatformTls.write_trust_bundle`).

trustme (and the cryptography package under it) belongs to the ``testing`` extra, imported only
when a platform with TLS is made; the service never needs it.
"""

from __future__ import annotations

import shutil
import ssl
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import trustme

#: The names the server certificate is valid for: the loopback addresses the platform serves on.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def _trustme() -> object:
    try:
        import trustme
    except ImportError:  # pragma: no cover - the dev extra has it
        raise RuntimeError(
            "a simulated platform with TLS needs trustme: pip install 'callvisor[testing]'"
        ) from None
    return trustme


class PlatformTls:
    """A test CA and the platform's server certificate, issued by it for ``hostnames``.

    ``hostnames`` other than the address the platform serves on make a certificate that does
    not match (a test of host name checks); ``ca`` shares one CA between platforms.
    """

    #: The default ``hostnames``: the loopback addresses a platform serves on.
    LOOPBACK_NAMES = LOOPBACK_NAMES

    def __init__(self, *, hostnames: Sequence[str] = LOOPBACK_NAMES, ca: trustme.CA | None = None) -> None:
        module = _trustme()
        self.ca: trustme.CA = ca or module.CA()  # type: ignore[attr-defined]
        self.hostnames = tuple(hostnames)
        self._server = self.ca.issue_cert(*self.hostnames)
        self._server_context: ssl.SSLContext | None = None
        self._bundle: Path | None = None

    def __repr__(self) -> str:
        return f"<PlatformTls for {', '.join(self.hostnames)}>"

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate, PEM: what a client must trust."""
        return self.ca.cert_pem.bytes()

    def write_ca(self, path: Path) -> Path:
        """Write the CA certificate (PEM) to ``path``; return it."""
        path.write_bytes(self.ca_pem)
        return path

    def write_trust_bundle(self, path: Path, *, system: bool = True) -> Path:
        """Write a CA bundle to ``path``: the system's bundle (unless ``system=False``), then the CA.

        What ``SSL_CERT_FILE`` names in production when a private CA is added to the system store.
        """
        bundle = b""
        if system:
            cafile = ssl.get_default_verify_paths().openssl_cafile
            if cafile and Path(cafile).is_file():
                bundle = Path(cafile).read_bytes().rstrip(b"\n") + b"\n"
        path.write_bytes(bundle + self.ca_pem)
        return path

    @property
    def trust_bundle(self) -> Path:
        """A bundle of the system store and the CA, written once into a temporary directory.

        The directory lives as long as this object.
        """
        if self._bundle is None:
            folder = tempfile.mkdtemp(prefix="callvisor-platform-tls-")
            weakref.finalize(self, shutil.rmtree, folder, ignore_errors=True)
            self._bundle = self.write_trust_bundle(Path(folder) / "trust-bundle.pem")
        return self._bundle

    def server_context(self) -> ssl.SSLContext:
        """The platform's server context (one, shared by every connection)."""
        if self._server_context is None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._server.configure_cert(context)
            self._server_context = context
        return self._server_context

    @contextmanager
    def server_pem_file(self) -> Iterator[str]:
        """The server's key and certificate chain in one temporary PEM file (for hypercorn)."""
        with self._server.private_key_and_cert_chain_pem.tempfile() as path:
            yield path
