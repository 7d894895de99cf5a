"""The end-to-end test rig: a simulated OpenAI platform and a real callvisor on loopback.

``open_rig(env=...)`` starts both (the service with ``config/examples/tenants.yaml`` unless
``CALLVISOR_TENANTS_FILE`` is overridden) and yields a :class:`Rig`.  Tests using it touch real
sockets, so they run on ``mock_clock`` (autojump threshold 0.2 s): the service's timeouts are
virtual, the sockets are real.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import trio

from supervisor.testing import (
    Driver,
    LogTap,
    PlatformTls,
    WebhookSigner,
    new_secret,
    open_callvisor,
    open_platform,
    settings_for,
)

ACME = "sip:+18005551212@sip.example.com"
GLOBEX = "sip:+18005550100@sip.example.com"
INITECH = "sip:+18005550101@sip.example.com"
UMBRELLA = "sip:+18005550102@sip.example.com"
HOOLI = "sip:+18005550103@sip.example.com"
PIEDPIPER = "sip:+18005550104@sip.example.com"
UNROUTED = "sip:+18005550199@sip.example.com"

#: Bound for any single wait in a rig test (virtual seconds on mock_clock).
WAIT_S = 60.0


class Rig(Driver):
    """The shared :class:`~supervisor.testing.Driver`, with every wait bounded by ``WAIT_S``."""

    async def call(self, call_id: str, *, to: str = ACME, **kwargs: Any) -> httpx.Response:
        """Place a signed ``realtime.call.incoming`` for ``call_id`` dialing ``to``."""
        with trio.fail_after(WAIT_S):
            return await super().call(call_id, to=to, **kwargs)

    async def post_raw(self, body: bytes, headers: Mapping[str, str]) -> httpx.Response:
        """POST bytes to the webhook endpoint as they are."""
        with trio.fail_after(WAIT_S):
            return await self.http.post(f"{self.url}/webhooks/openai", content=body, headers=dict(headers))

    def signed(self, event: dict[str, Any], *, webhook_id: str = "wh_test", timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
        """The body and headers of a correctly signed delivery of ``event``."""
        import time

        body = json.dumps(event).encode()
        ts = int(time.time()) if timestamp is None else timestamp
        return body, self.signer.sign(body, webhook_id=webhook_id, timestamp=ts)

    async def wait_log(self, event: str, *, call_id: str | None = None) -> dict[str, Any]:
        with trio.fail_after(WAIT_S):
            if call_id is None:
                return await self.logs.wait_for(event)
            return await self.logs.wait_for(event, call_id=call_id)

    async def wait_session(self, call_id: str) -> None:
        """Until the call's sideband is up and attached on the platform."""
        with trio.fail_after(WAIT_S):
            await super().wait_session(call_id)


@asynccontextmanager
async def open_rig(
    env: Mapping[str, str] | None = None, *, tls: PlatformTls | bool = False, **callvisor_kwargs: Any
) -> AsyncIterator[Rig]:
    """The rig; ``tls`` puts the platform behind https/wss, trusted through SSL_CERT_FILE."""
    signer = WebhookSigner(new_secret())
    logs = LogTap()
    with logs.installed():
        async with open_platform(tls=tls) as platform:
            settings = settings_for(platform, signer, env=env)
            async with open_callvisor(settings, **callvisor_kwargs) as info, httpx.AsyncClient(timeout=None) as http:
                yield Rig(platform, signer, info, http, logs)
    unregistered = sorted({str(line.get("event")) for line in logs.lines if line.get("unregistered_event")})
    assert not unregistered, f"events missing from actors/log/_events.py: {unregistered}"
