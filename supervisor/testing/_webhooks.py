"""Webhooks as OpenAI sends them (private; see supervisor.testing): a signer and a sender.

:class:`WebhookSigner` signs the way OpenAI does (Standard Webhooks), written here
independently of :mod:`supervisor.webhooks` so that each checks the other.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from ._platform import SimulatedPlatform

_WHSEC = "whsec_"


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
    sip_call_id: str | None = None,
) -> dict[str, Any]:
    """A ``realtime.call.incoming`` event as OpenAI sends it.

    ``extra_headers`` are appended to ``data.sip_headers`` after From, To and Call-ID
    (``sip_call_id``, a fresh one by default); ``media_security=None`` leaves
    ``data.sip_media_security`` out.
    """
    sip_headers = [
        {"name": "From", "value": from_},
        {"name": "To", "value": to},
        {"name": "Call-ID", "value": sip_call_id or str(uuid.uuid4())},
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

    With ``platform``, the call is registered there first (``platform.expect_call``, on the
    surface of the event's type: a Live event's ``data.session_id`` on the Live paths) so that
    the platform knows it when it is accepted.  ``timestamp`` defaults to now (wall clock),
    ``webhook_id`` to a fresh id.  No timeout of its own: the caller bounds the wait.
    """
    if platform is not None:
        if str(event.get("type", "")).startswith("live."):
            platform.expect_call(event["data"]["session_id"], runtime="live")
        else:
            platform.expect_call(event["data"]["call_id"])
    body = json.dumps(event).encode()
    headers = signer.sign(
        body,
        webhook_id=webhook_id or f"wh_{secrets.token_hex(16)}",
        timestamp=int(time.time()) if timestamp is None else timestamp,
    )
    headers["content-type"] = "application/json"
    import httpx  # the testing extra: only the sending side needs it
    url = http_base_url.rstrip("/") + "/webhooks/openai"
    if client is not None:
        return await client.post(url, content=body, headers=headers)
    async with httpx.AsyncClient(timeout=None) as own_client:
        return await own_client.post(url, content=body, headers=headers)
