"""A simulated OpenAI platform for tests, demos and benchmarks, public like ``trio.testing``.

Everything here talks over real loopback sockets, so the code under test uses its production
clients unmodified: the openai SDK for call control and trio-websocket for the sideband.

A test against the service under test (``service_url`` is wherever it serves its public app,
configured with ``signer.secret``, ``platform.api_key``, ``platform.base_url`` and
``platform.realtime_url``)::

    async def test_greets_the_caller(mock_clock):
        signer = WebhookSigner(new_secret())
        async with open_platform() as platform:
            ...  # start the service under test, pointed at the platform
            event = incoming_call_event("rtc_1")
            with trio.fail_after(10):
                response = await place_call(service_url, signer, event, platform=platform)
                accept = await platform.wait_for_request("accept", "rtc_1")
                greeting = await platform.wait_for_client_event("rtc_1", "response.create")
                tool_call_id = await platform.call("rtc_1").function_call("end_call", "{}")
                await platform.wait_for_request("hangup", "rtc_1")
            assert response.status_code == 200
            assert accept.body["type"] == "realtime"

Pieces:

- :class:`WebhookSigner` and :func:`new_secret` sign deliveries the way OpenAI does (Standard
  Webhooks), independently of :mod:`supervisor.webhooks`, so each checks the other.
- :func:`incoming_call_event` builds a ``realtime.call.incoming`` event; :func:`place_call`
  signs it and POSTs it to ``{url}/webhooks/openai``.
- :class:`SimulatedPlatform` is the platform's state: the calls it knows
  (:class:`SimulatedCall`), every call-control request (:class:`RecordedRequest`), every
  sideband handshake, and the scripted misbehaviour still to come (``fail``, ``delay``,
  ``gone``, ``fail_connect``).  :func:`serve_platform` serves it (``nursery.start`` reports
  the :class:`PlatformUrls`); :func:`open_platform` does both in its own nursery.
- TLS: ``SimulatedPlatform(tls=True)`` (or a :class:`PlatformTls`) serves https and wss with a
  certificate of a test CA (trustme); :meth:`PlatformTls.write_trust_bundle` writes the bundle
  to name in callvisor's ``SSL_CERT_FILE``, as a production trust store with a private CA.
- REST: ``{base_url}/realtime/calls/{call_id}/accept|reject|hangup|refer``; the rules are in
  ``supervisor/_platform_rest.py``'s docstring.  Sideband:
  ``{realtime_url}?call_id=...`` with ``Authorization: Bearer {api_key}``; it answers
  ``session.created``, records every client event, and (``auto_audio``) answers each
  ``response.create`` like a model that speaks.

Tests never sleep to wait: ``wait_for_request``, ``wait_for_client_event``,
``SimulatedCall.wait_tool_output`` and friends block until the thing happened.  They do not
time out on their own; put a ``trio.fail_after`` around a test's waits.  Delays use
``trio.sleep``, so they follow the test's clock (use ``MockClock(autojump_threshold=0.2)``:
these are real sockets).
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import httpx
import trio
from attrs import frozen

from ._platform_rest import CALL_ACTIONS as CALL_ACTIONS
from ._platform_rest import RecordedRequest as RecordedRequest
from ._platform_rest import Script, ScriptBook, serve_call_control
from ._platform_sideband import ChangeSignal, serve_sideband
from ._platform_sideband import SimulatedCall as SimulatedCall
from ._platform_tls import PlatformTls as PlatformTls

__all__ = [
    "CALL_ACTIONS",
    "PlatformTls",
    "PlatformUrls",
    "RecordedHandshake",
    "RecordedRequest",
    "SimulatedCall",
    "SimulatedPlatform",
    "WebhookSigner",
    "incoming_call_event",
    "new_secret",
    "open_platform",
    "place_call",
    "serve_platform",
]

_WHSEC = "whsec_"


# -- webhooks -------------------------------------------------------------------------------


def new_secret() -> str:
    """A fresh random ``whsec_`` webhook secret."""
    return _WHSEC + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookSigner:
    """Signs webhook deliveries with one secret, as OpenAI does.

    ``secret`` is a ``whsec_<base64>`` secret (the HMAC key is the decoded part) or any other
    string (its UTF-8 bytes are the key), the same rule as the openai SDK.
    """

    def __init__(self, secret: str) -> None:
        self.secret = secret
        if secret.startswith(_WHSEC):
            self.key = base64.b64decode(secret.removeprefix(_WHSEC), validate=True)
        else:
            self.key = secret.encode()

    def __repr__(self) -> str:
        return "<WebhookSigner>"

    def signature(self, body: bytes, *, webhook_id: str, timestamp: int) -> str:
        """One ``v1,<base64>`` entry; join several with spaces to sign with many secrets."""
        content = b"%s.%d.%s" % (webhook_id.encode(), timestamp, body)
        return "v1," + base64.b64encode(hmac.digest(self.key, content, "sha256")).decode()

    def sign(self, body: bytes, *, webhook_id: str, timestamp: int) -> dict[str, str]:
        """The three ``webhook-*`` headers for ``body``."""
        return {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": self.signature(body, webhook_id=webhook_id, timestamp=timestamp),
        }


def incoming_call_event(
    call_id: str,
    *,
    to: str = "sip:+18005551212@sip.example.com",
    from_: str = "sip:+14255550123@sip.example.com",
    extra_headers: Iterable[tuple[str, str]] = (),
    event_id: str | None = None,
    created_at: int | None = None,
    media_security: str | None = "srtp",
) -> dict[str, Any]:
    """A ``realtime.call.incoming`` event as OpenAI sends it.

    ``extra_headers`` are appended to ``data.sip_headers`` after From, To and Call-ID;
    ``media_security=None`` leaves ``data.sip_media_security`` out.
    """
    sip_headers = [
        {"name": "From", "value": from_},
        {"name": "To", "value": to},
        {"name": "Call-ID", "value": str(uuid.uuid4())},
        *({"name": name, "value": value} for name, value in extra_headers),
    ]
    data: dict[str, Any] = {"call_id": call_id, "sip_headers": sip_headers}
    if media_security is not None:
        data["sip_media_security"] = media_security
    return {
        "object": "event",
        "id": event_id or f"evt_{secrets.token_hex(16)}",
        "type": "realtime.call.incoming",
        "created_at": int(time.time()) if created_at is None else created_at,
        "data": data,
    }


async def place_call(
    http_base_url: str,
    signer: WebhookSigner,
    event: dict[str, Any],
    *,
    platform: SimulatedPlatform | None = None,
    webhook_id: str | None = None,
    timestamp: int | None = None,
    client: httpx.AsyncClient | None = None,
) -> httpx.Response:
    """Deliver ``event`` to ``{http_base_url}/webhooks/openai``, signed, and return the response.

    With ``platform``, the call is registered there first (``platform.expect_call``) so that
    the platform knows it when it is accepted.  ``timestamp`` defaults to now (wall clock),
    ``webhook_id`` to a fresh id.  No timeout of its own: the caller bounds the wait.
    """
    if platform is not None:
        platform.expect_call(event["data"]["call_id"])
    body = json.dumps(event).encode()
    headers = signer.sign(
        body,
        webhook_id=webhook_id or f"wh_{secrets.token_hex(16)}",
        timestamp=int(time.time()) if timestamp is None else timestamp,
    )
    headers["content-type"] = "application/json"
    url = http_base_url.rstrip("/") + "/webhooks/openai"
    if client is not None:
        return await client.post(url, content=body, headers=headers)
    async with httpx.AsyncClient(timeout=None) as own_client:
        return await own_client.post(url, content=body, headers=headers)


# -- the platform ---------------------------------------------------------------------------


@frozen(kw_only=True)
class PlatformUrls:
    """Where a served platform listens."""

    #: ``http://127.0.0.1:PORT/v1`` (``https`` with TLS): the openai SDK's ``base_url``.
    base_url: str
    #: ``ws://127.0.0.1:PORT/v1/realtime`` (``wss`` with TLS): add ``?call_id=...``.
    realtime_url: str


@frozen(kw_only=True)
class RecordedHandshake:
    """One sideband handshake: ``status`` 101 when accepted, else the rejection's status."""

    call_id: str | None
    status: int
    at: float


class SimulatedPlatform:
    """OpenAI's side of SIP calls: call control over REST, and the sideband websocket."""

    def __init__(self, *, api_key: str | None = None, tls: PlatformTls | bool = False) -> None:
        #: The only key the platform accepts (``Authorization: Bearer ...``).
        self.api_key = api_key or f"sk-sim-{secrets.token_hex(12)}"
        #: Serve https and wss with a test CA's certificate (``True``: a new CA), as OpenAI
        #: serves only TLS; None: plain http and ws.
        self.tls: PlatformTls | None = PlatformTls() if tls is True else (tls or None)
        #: Answer each ``response.create`` with response and audio-buffer events.
        self.auto_audio = True
        #: Virtual seconds between ``output_audio_buffer.started`` and ``.stopped``.
        self.audio_duration_s = 0.0
        #: After a 200 refer, close the sideband this much later; None: never (a refer that
        #: silently goes nowhere, as real ones sometimes do).
        self.refer_closes_after_s: float | None = 0.0
        #: Treat a call_id never placed here as a new incoming call (a platform in a process
        #: of its own, whose webhooks are posted by another tool).
        self.accept_unknown_calls = False
        self._urls: PlatformUrls | None = None
        self._nursery: trio.Nursery | None = None
        self._changes = ChangeSignal()
        self._calls: dict[str, SimulatedCall] = {}
        self._requests: list[RecordedRequest] = []
        self._handshakes: list[RecordedHandshake] = []
        self._scripts = ScriptBook()

    def __repr__(self) -> str:
        where = self._urls.base_url if self._urls else "not serving"
        return f"<SimulatedPlatform {where} calls={len(self._calls)}>"

    @property
    def base_url(self) -> str:
        return self._served().base_url

    @property
    def realtime_url(self) -> str:
        return self._served().realtime_url

    # -- calls ----------------------------------------------------------------------------

    def expect_call(self, call_id: str) -> SimulatedCall:
        """Make the call known (as a webhook does): it can now be accepted or rejected."""
        if call_id not in self._calls:
            self._calls[call_id] = SimulatedCall(call_id, self)
            self._changes.notify()
        return self._calls[call_id]

    def call(self, call_id: str) -> SimulatedCall:
        """The call ``call_id``; KeyError if the platform never heard of it."""
        try:
            return self._calls[call_id]
        except KeyError:
            raise KeyError(f"the platform has no call {call_id!r} (place_call it first)") from None

    def gone(self, call_id: str) -> None:
        """The caller hung up: accept, reject, hangup, refer and handshakes get 404.

        A live sideband stays open; ``call(call_id).abort()`` drops it.
        """
        self.expect_call(call_id)._end("gone")

    def open_sidebands(self) -> int:
        """How many sideband connections are live right now, over all calls."""
        return sum(call.live_connections for call in self._calls.values())

    async def wait_sidebands_closed(self) -> None:
        """Block until no sideband connection is live (the server side has finished too)."""
        await self._changes.wait_for(lambda: True if self.open_sidebands() == 0 else None)

    # -- scripts --------------------------------------------------------------------------

    def fail(
        self, action: str, *, call_id: str | None = None, status: int = 500, times: int = 1
    ) -> None:
        """The next ``times`` matching ``action`` requests answer ``status`` (any call if None)."""
        self._scripts.add(
            Script(
                effect="fail", action=_checked(action), call_id=call_id, status=status, times=times
            )
        )

    def delay(
        self, action: str, seconds: float, *, call_id: str | None = None, times: int = 1
    ) -> None:
        """The next ``times`` matching ``action`` requests are answered ``seconds`` late."""
        self._scripts.add(
            Script(
                effect="delay",
                action=_checked(action),
                call_id=call_id,
                seconds=seconds,
                times=times,
            )
        )

    def fail_connect(self, *, call_id: str | None = None, times: int = 1) -> None:
        """The next ``times`` matching sideband handshakes are rejected with 404."""
        self._scripts.add(
            Script(effect="fail", action="connect", call_id=call_id, status=404, times=times)
        )

    def pending_scripts(self) -> list[str]:
        """Scripts not yet consumed, described; ``[]`` once every one has happened."""
        return self._scripts.pending()

    # -- what the platform received -------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every call-control request, in arrival order."""
        return list(self._requests)

    @property
    def handshakes(self) -> list[RecordedHandshake]:
        """Every sideband handshake, in arrival order."""
        return list(self._handshakes)

    @property
    def connections_seen(self) -> int:
        """How many client connections the call-control requests came on (kept-alive ones count once)."""
        return len({r.client for r in self._requests})

    def requests_for(self, call_id: str) -> list[RecordedRequest]:
        return [r for r in self._requests if r.call_id == call_id]

    def actions(self, call_id: str) -> list[str]:
        """The actions requested for ``call_id``, in order, e.g. ``["accept", "hangup"]``."""
        return [r.action for r in self.requests_for(call_id)]

    async def wait_for_request(
        self, action: str, call_id: str | None = None, *, nth: int = 1
    ) -> RecordedRequest:
        """Block until ``nth`` matching requests have arrived; return that one."""
        _checked(action)

        def probe() -> RecordedRequest | None:
            matches = [
                r for r in self._requests if r.action == action and call_id in (None, r.call_id)
            ]
            return matches[nth - 1] if len(matches) >= nth else None

        return await self._changes.wait_for(probe)

    def sideband_events(self, call_id: str) -> list[dict[str, Any]]:
        """Every event the client sent on ``call_id``'s sideband, in order."""
        return self.call(call_id).client_events

    async def wait_for_client_event(
        self, call_id: str, event_type: str, *, nth: int = 1
    ) -> dict[str, Any]:
        """Block until the client sent ``nth`` ``event_type`` events on ``call_id``."""
        call = await self._changes.wait_for(lambda: self._calls.get(call_id))
        return await call.wait_for_client_event(event_type, nth=nth)

    # -- used by the servers --------------------------------------------------------------

    def _served(self) -> PlatformUrls:
        if self._urls is None:
            raise RuntimeError("the platform is not serving; start it with serve_platform()")
        return self._urls

    def _record_request(self, request: RecordedRequest) -> None:
        self._requests.append(request)
        self._changes.notify()

    def _record_handshake(self, call_id: str | None, status: int) -> None:
        self._handshakes.append(
            RecordedHandshake(call_id=call_id, status=status, at=trio.current_time())
        )
        self._changes.notify()

    def _spawn(self, fn: Callable[[], Awaitable[None]], *, name: str) -> None:
        """Run ``fn`` in the platform's nursery (outliving the request that caused it)."""
        if self._nursery is None:
            raise RuntimeError("the platform is not serving")
        self._nursery.start_soon(fn, name=name)


def _checked(action: str) -> str:
    if action not in CALL_ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(CALL_ACTIONS)}")
    return action


async def serve_platform(
    platform: SimulatedPlatform,
    *,
    host: str = "127.0.0.1",
    task_status: trio.TaskStatus[PlatformUrls] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``platform`` on two ephemeral ports of ``host`` until cancelled.

    Use with ``await nursery.start(serve_platform, platform)``, which returns the
    :class:`PlatformUrls` (also on ``platform.base_url`` / ``platform.realtime_url``).
    """
    if platform._nursery is not None:
        raise RuntimeError("this platform is already serving")
    try:
        async with trio.open_nursery() as nursery:
            platform._nursery = nursery
            http_url = await nursery.start(serve_call_control, platform, host)
            ws_port = await nursery.start(serve_sideband, platform, host)
            ws_scheme = "ws" if platform.tls is None else "wss"
            platform._urls = PlatformUrls(
                base_url=f"{http_url}/v1", realtime_url=f"{ws_scheme}://{host}:{ws_port}/v1/realtime"
            )
            task_status.started(platform._urls)
    finally:
        platform._nursery = None
        platform._urls = None


@asynccontextmanager
async def open_platform(
    *, api_key: str | None = None, host: str = "127.0.0.1", tls: PlatformTls | bool = False
) -> AsyncIterator[SimulatedPlatform]:
    """A served :class:`SimulatedPlatform`, stopped when the block exits."""
    platform = SimulatedPlatform(api_key=api_key, tls=tls)
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(serve_platform, platform, host=host))
        try:
            yield platform
        finally:
            nursery.cancel_scope.cancel()
