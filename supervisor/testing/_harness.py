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

from actors.log import LOGGER_NAME, JsonFormatter
from config.settings import Settings
from config.source import TenantSource
from config.tenants_file import FileTenantSource

from ..cluster import Coordination
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
        "OPENAI_LIVE_URL": platform.live_url,
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


class LogLines:
    """JSON log lines kept in memory, and a way for a trio task to wait for one.

    Fed by :class:`LogTap` (a logging handler in this process) or by whatever reads another
    process's log (``add``).  ``wait_for`` must be called from the trio thread.
    """

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []
        self._changed = trio.Event()

    def add(self, line: dict[str, Any]) -> None:
        self.lines.append(line)
        try:
            self._changed.set()
            self._changed = trio.Event()
        except RuntimeError:  # pragma: no cover - not in the trio thread: kept, wakes nobody
            pass

    def events(self, event: str | None = None, **fields: Any) -> list[dict[str, Any]]:
        """Every line of ``event`` (any event if None) whose ``fields`` have the values given."""
        return [
            line
            for line in self.lines
            if (event is None or line.get("event") == event)
            and all(line.get(name) == value for name, value in fields.items())
        ]

    async def wait_for(self, event: str, **fields: Any) -> dict[str, Any]:
        """The first line of ``event`` with those ``fields``, waiting until it is logged."""
        while not (found := self.events(event, **fields)):
            await self._changed.wait()
        return found[0]


class LogTap(LogLines, logging.Handler):
    """Keeps callvisor's JSON log lines in memory, as :class:`LogLines`, while ``installed``.

    Records logged from other threads are kept but do not wake waiters (callvisor logs only
    from the trio thread).
    """

    def __init__(self) -> None:
        LogLines.__init__(self)
        logging.Handler.__init__(self, level=logging.DEBUG)
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.add(json.loads(self.format(record)))

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
