"""GPT-Live webhooks as OpenAI sends them (private; see supervisor.testing).

:func:`live_incoming_event` builds ``live.transport.incoming`` (or, ``deprecated=True``, the
older ``live.call.incoming``, which has no ``data.type``); the id is ``data.session_id``.  One
SIP call may arrive as both a Realtime and a Live webhook with different ids; the only thing
the two share is the SIP ``Call-ID`` header, which :func:`sip_call_pair` sets on both.  Sign and
post either with :func:`~supervisor.testing.place_call`, as a Realtime one.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterable
from typing import Any

from ._webhooks import incoming_call_event

LIVE_INCOMING = "live.transport.incoming"
LIVE_INCOMING_DEPRECATED = "live.call.incoming"


def live_incoming_event(
    session_id: str,
    *,
    to: str = "sip:+18005551212@sip.example.com",
    from_: str = "sip:+14255550123@sip.example.com",
    sip_call_id: str | None = None,
    extra_headers: Iterable[tuple[str, str]] = (),
    event_id: str | None = None,
    created_at: int | None = None,
    media_security: str | None = "srtp",
    deprecated: bool = False,
) -> dict[str, Any]:
    """A ``live.transport.incoming`` event (``deprecated``: ``live.call.incoming``).

    ``data.sip_headers`` holds From, To, Call-ID (``sip_call_id``, a fresh one by default), then
    ``extra_headers``; ``media_security=None`` leaves ``data.sip_media_security`` out.
    """
    sip_headers = [
        {"name": "From", "value": from_},
        {"name": "To", "value": to},
        {"name": "Call-ID", "value": sip_call_id or str(uuid.uuid4())},
        *({"name": name, "value": value} for name, value in extra_headers),
    ]
    data: dict[str, Any] = {"session_id": session_id, "sip_headers": sip_headers}
    if not deprecated:
        data["type"] = "sip"
    if media_security is not None:
        data["sip_media_security"] = media_security
    return {
        "object": "event",
        "id": event_id or f"evt_{secrets.token_hex(16)}",
        "type": LIVE_INCOMING_DEPRECATED if deprecated else LIVE_INCOMING,
        "created_at": int(time.time()) if created_at is None else created_at,
        "data": data,
    }


def sip_call_pair(
    call_id: str, session_id: str, *, to: str = "sip:+18005551212@sip.example.com", **kwargs: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two webhooks of one SIP call: ``realtime.call.incoming`` for ``call_id`` and
    ``live.transport.incoming`` for ``session_id``, with the same SIP ``Call-ID``.

    ``kwargs`` (``from_``, ``sip_call_id``, ``extra_headers``, ``media_security``) go to both.
    """
    sip_call_id = kwargs.pop("sip_call_id", None) or str(uuid.uuid4())
    realtime = incoming_call_event(call_id, to=to, sip_call_id=sip_call_id, **kwargs)
    live = live_incoming_event(session_id, to=to, sip_call_id=sip_call_id, **kwargs)
    return realtime, live
