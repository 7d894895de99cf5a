"""One driver over a callvisor under test (private; see supervisor.testing).

The demo, the test rig, the property test and the cluster tests all place calls and read what
happened the same way: through :class:`Driver`, which pairs one serving callvisor with the
platform it talks to, the signer of its webhook secret and its log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from attrs import define

from config.settings import Settings

from ..service import ServiceInfo
from ..supervisor import Supervisor
from ._harness import LogLines, open_callvisor
from ._live_events import live_incoming_event
from ._platform import SimulatedPlatform
from ._webhooks import WebhookSigner, incoming_call_event, place_call

if TYPE_CHECKING:
    import httpx


#: The number a call dials unless told otherwise: the example tenants' acme-corp.
DEFAULT_TO = "sip:+18005551212@sip.example.com"


@define
class Driver:
    """Places calls into one callvisor and reads what it answered, logged and sent to OpenAI.

    No timeouts of its own: the caller bounds every wait (``trio.fail_after``).
    """

    platform: SimulatedPlatform
    signer: WebhookSigner
    info: ServiceInfo
    http: httpx.AsyncClient
    logs: LogLines

    @property
    def url(self) -> str:
        """The public app's base URL."""
        return self.info.public_url

    @property
    def admin_url(self) -> str:
        return self.info.admin_url

    @property
    def supervisor(self) -> Supervisor:
        return self.info.service.supervisor

    async def call(
        self, call_id: str, *, to: str = DEFAULT_TO, event: dict[str, Any] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Deliver a signed ``realtime.call.incoming`` for ``call_id`` dialing ``to`` (or ``event``).

        ``kwargs`` go to :func:`place_call` (``webhook_id``, ``timestamp``).
        """
        event = event if event is not None else incoming_call_event(call_id, to=to)
        return await place_call(
            self.url, self.signer, event, platform=self.platform, client=self.http, **kwargs
        )

    async def live_call(
        self, session_id: str, *, to: str = DEFAULT_TO, event: dict[str, Any] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Deliver a signed ``live.transport.incoming`` for ``session_id`` dialing ``to`` (or ``event``)."""
        event = event if event is not None else live_incoming_event(session_id, to=to)
        return await place_call(
            self.url, self.signer, event, platform=self.platform, client=self.http, **kwargs
        )

    async def wait_session(self, call_id: str) -> None:
        """Until the call's sideband is up on both sides (logged, and attached on the platform)."""
        await self.logs.wait_for("call_session_started", call_id=call_id)
        if self.platform.call(call_id).runtime == "live":
            await self.platform.live_session(call_id).wait_connected()
        else:
            await self.platform.call(call_id).wait_connected()

    async def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request to the operator port."""
        return await self.http.request(method, f"{self.admin_url}{path}", **kwargs)

    def actions(self, call_id: str) -> list[str]:
        """The call-control actions OpenAI received for ``call_id``, in order."""
        return self.platform.actions(call_id)


@asynccontextmanager
async def open_driver(
    settings: Settings,
    platform: SimulatedPlatform,
    signer: WebhookSigner,
    logs: LogLines,
    *,
    http: httpx.AsyncClient | None = None,
    **callvisor_kwargs: Any,
) -> AsyncIterator[Driver]:
    """A serving callvisor (:func:`open_callvisor` with ``callvisor_kwargs``) and its driver.

    ``http`` shares one client between drivers (several replicas); by default each has its own.
    """
    import httpx  # the testing extra: only the sending side needs it

    async with open_callvisor(settings, **callvisor_kwargs) as info:
        if http is not None:
            yield Driver(platform, signer, info, http, logs)
            return
        async with httpx.AsyncClient(timeout=None) as own:
            yield Driver(platform, signer, info, own, logs)
