"""Run a real callvisor service against a simulated platform, in-process (private; see supervisor.testing).

Used by the tests, ``callvisor demo`` and the benchmarks: the service is the production
:class:`~supervisor.service.Service` with its HTTP servers on ephemeral ports; only the
environment differs (OpenAI's URLs point at the simulated platform).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx2
import trio

from actors.log import LOGGER_NAME
from config.settings import Settings
from config.source import TenantSource
from config.tenants_file import FileTenantSource

from ..cluster import Coordination
from ..logs import JsonFormatter
from ..service import ServiceInfo, open_service
from ._platform import SimulatedPlatform
from ._webhooks import WebhookSigner

EXAMPLE_TENANTS = Path(__file__).resolve().parents[2] / "config" / "examples" / "tenants.yaml"


def settings_for(
    platform: SimulatedPlatform,
    signer: WebhookSigner,
    *,
    tenants_file: Path = EXAMPLE_TENANTS,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Settings that point callvisor at ``platform``; ``env`` overrides any variable.

    A platform with TLS is trusted the way a deployment trusts a private CA: ``SSL_CERT_FILE``
    names a bundle of the system store plus the platform's CA.
    """
    trust = {} if platform.tls is None else {"SSL_CERT_FILE": str(platform.tls.trust_bundle)}
    environ = {
        **trust,
        "OPENAI_API_KEY": platform.api_key,
        "OPENAI_WEBHOOK_SECRET": signer.secret,
        "OPENAI_BASE_URL": platform.base_url,
        "OPENAI_REALTIME_URL": platform.realtime_url,
        "CALLVISOR_TENANTS_FILE": str(tenants_file),
        "CALLVISOR_HTTP": "127.0.0.1:0",
        "CALLVISOR_ADMIN": "127.0.0.1:0",
        "CALLVISOR_TOOL_ALLOWED_HOSTS": "tools.acme.example 127.0.0.1",
        "CALLVISOR_TOOL_ALLOW_HTTP": "1",
        "CALLVISOR_REPLICA_ID": "replica-test",
        **(env or {}),
    }
    return Settings.from_env(environ)


@asynccontextmanager
async def open_callvisor(
    settings: Settings,
    source: TenantSource | None = None,
    *,
    tool_transport: httpx2.AsyncBaseTransport | None = None,
    coordination: Coordination | None = None,
) -> AsyncIterator[ServiceInfo]:
    """A serving callvisor; cancelled (without a drain) when the block exits."""
    if source is None:
        assert settings.tenants_file is not None
        source = FileTenantSource.load(settings.tenants_file, default_region=settings.default_region)
    async with open_service(
            settings, source, tool_transport=tool_transport, coordination=coordination
        ) as service, trio.open_nursery() as nursery:
        info: ServiceInfo = await nursery.start(partial(service.serve, handle_signals=False, watch_loop_lag=False))
        try:
            yield info
        finally:
            nursery.cancel_scope.cancel()


class LogTap(logging.Handler):
    """Keeps callvisor's JSON log lines in memory and lets a trio task wait for one.

    ``wait_for`` must be called from the trio thread; records logged from other threads are
    kept but do not wake waiters (callvisor logs only from the trio thread).
    """

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []
        self._changed = trio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))
        try:
            self._changed.set()
            self._changed = trio.Event()
        except RuntimeError:  # pragma: no cover - not in the trio thread
            pass

    def events(self, event: str | None = None, *, call_id: str | None = None) -> list[dict[str, Any]]:
        return [
            line
            for line in self.lines
            if (event is None or line.get("event") == event)
            and (call_id is None or line.get("call_id") == call_id)
        ]

    async def wait_for(self, event: str, *, call_id: str | None = None) -> dict[str, Any]:
        """The first line of ``event`` (for ``call_id``), waiting until it is logged."""
        while not (found := self.events(event, call_id=call_id)):
            await self._changed.wait()
        return found[0]

    @contextmanager
    def installed(self, logger_name: str = LOGGER_NAME) -> Iterator[LogTap]:
        logger = logging.getLogger(logger_name)
        previous = logger.level
        logger.addHandler(self)
        logger.setLevel(logging.DEBUG)
        try:
            yield self
        finally:
            logger.removeHandler(self)
            logger.setLevel(previous)
