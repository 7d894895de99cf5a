"""What differs between OpenAI's two SIP runtimes, Realtime and GPT-Live.

:class:`CallRuntime` is the seam: the accept body and the call-control requests of one runtime
(:data:`REALTIME`, :data:`LIVE`, chosen per call by :data:`RUNTIMES`).  Everything else a call
does (capacity, registry, decision order, downtime prompts, drain, operator hangup, max duration,
teardown) is the same code for both.  The sideband session is the other per-runtime piece: the
actor runs ``CallEnv.run_session`` for Realtime and ``CallEnv.run_live_session`` for Live.

A tenant's calls run on one runtime (``config.runtime``), but OpenAI may post one SIP call's
webhook on both surfaces, with different ids.  :func:`not_the_tenants_runtime` is the rule
that keeps a call from being accepted twice: the webhook of the runtime the tenant does not use
is acknowledged and never accepted (docs/decisions/0012-one-runtime-per-tenant.md).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, Protocol

from config.models import TenantConfig, ToolSpec

from .log import log_event

#: Longest ``Call-ID`` value logged, in characters (SIP headers are untrusted input).
CALL_ID_EXCERPT_CHARS = 64


def not_the_tenants_runtime(
    runtime: str, tenant_runtime: str, sip_headers: Sequence[Mapping[str, Any]]
) -> str | None:
    """None when a webhook of ``runtime`` is the tenant's to decide; otherwise log
    ``webhook_runtime_ignored`` and return the reason, ``tenant_runtime_<tenant_runtime>``."""
    if runtime == tenant_runtime:
        return None
    reason = f"tenant_runtime_{tenant_runtime}"
    log_event(
        logging.INFO,
        "webhook_runtime_ignored",
        "webhook of the runtime the tenant does not use; acknowledged, not accepted",
        reason=reason,
        runtime=runtime,
        sip_call_id=sip_call_id(sip_headers),
    )
    return reason


def sip_call_id(sip_headers: Sequence[Mapping[str, Any]]) -> str | None:
    """The SIP ``Call-ID`` (or compact ``i``) header's first 64 characters, unprintable ones as ``?``."""
    for header in sip_headers:
        name, value = header.get("name"), header.get("value")
        if isinstance(name, str) and name.lower() in ("call-id", "i") and isinstance(value, str):
            return "".join(c if c.isprintable() else "?" for c in value[:CALL_ID_EXCERPT_CHARS])
    return None


class CallRuntime(Protocol):
    """What call control does differently per runtime: the accept body and the REST requests.

    Each ``*_request`` returns the SDK's coroutine for one call-control request on ``client``
    (an ``openai.AsyncOpenAI``); ``actors.control.CallControl`` bounds it and maps its errors.
    """

    name: str

    def accept_session(
        self, config: TenantConfig, instructions: str, tools: Sequence[ToolSpec]
    ) -> dict[str, Any]: ...
    def accept_request(self, client: Any, call_id: str, session: dict[str, Any]) -> Awaitable[object]: ...
    def reject_request(self, client: Any, call_id: str, sip_status: int) -> Awaitable[object]: ...
    def hangup_request(self, client: Any, call_id: str) -> Awaitable[object]: ...
    def refer_request(self, client: Any, call_id: str, target_uri: str) -> Awaitable[object]: ...


class RealtimeRuntime:
    """The Realtime API: ``/realtime/calls/{call_id}/...``, a flat session with ``tools``."""

    name = "realtime"

    def accept_session(
        self, config: TenantConfig, instructions: str, tools: Sequence[ToolSpec]
    ) -> dict[str, Any]:
        """The accept's session fields (``type`` is added with the request).

        No ``audio.*.format``: SIP negotiates the media format itself.
        """
        session: dict[str, Any] = {
            "model": config.model,
            "instructions": instructions,
            "audio": {"output": {"voice": config.voice}},
        }
        if tools:
            session["tools"] = [tool.to_openai() for tool in tools]
        return session

    def accept_request(self, client: Any, call_id: str, session: dict[str, Any]) -> Awaitable[object]:
        # The session travels as extra_body, already in wire format: the SDK's transform skipped.
        return client.realtime.calls.accept(call_id, type="realtime", extra_body=session)  # type: ignore[no-any-return]

    def reject_request(self, client: Any, call_id: str, sip_status: int) -> Awaitable[object]:
        return client.realtime.calls.reject(call_id, status_code=sip_status)  # type: ignore[no-any-return]

    def hangup_request(self, client: Any, call_id: str) -> Awaitable[object]:
        return client.realtime.calls.hangup(call_id)  # type: ignore[no-any-return]

    def refer_request(self, client: Any, call_id: str, target_uri: str) -> Awaitable[object]:
        return client.realtime.calls.refer(call_id, target_uri=target_uri)  # type: ignore[no-any-return]


class LiveRuntime:
    """GPT-Live: ``/live/sessions/{session_id}/...``, the session nested under ``"session"``.

    The Live model calls no functions: the tenant's tools go to a Responses delegation (model
    and prompt from the tenant's ``live`` keys), which is always configured so that the
    delegation is never the client's (callvisor has no client delegation handler).
    """

    name = "live"

    def accept_session(
        self, config: TenantConfig, instructions: str, tools: Sequence[ToolSpec]
    ) -> dict[str, Any]:
        """The whole ``session`` object of the accept (strict: only keys the SDK's type names)."""
        options = config.live_options
        responses: dict[str, Any] = {
            "model": options.delegation_model,
            "instructions": options.delegation_instructions,
        }
        if tools:
            responses["tools"] = [tool.to_openai() for tool in tools]
        return {
            "type": "live",
            "model": config.model,
            "instructions": instructions,
            "audio": {"output": {"voice": config.voice}},
            "delegation": {"type": "responses", "responses": responses},
        }

    def accept_request(self, client: Any, call_id: str, session: dict[str, Any]) -> Awaitable[object]:
        return client.live.sessions.accept(call_id, session=session)  # type: ignore[no-any-return]

    def reject_request(self, client: Any, call_id: str, sip_status: int) -> Awaitable[object]:
        return client.live.sessions.reject(call_id, status_code=sip_status)  # type: ignore[no-any-return]

    def hangup_request(self, client: Any, call_id: str) -> Awaitable[object]:
        return client.live.sessions.hangup(call_id)  # type: ignore[no-any-return]

    def refer_request(self, client: Any, call_id: str, target_uri: str) -> Awaitable[object]:
        return client.live.sessions.refer(call_id, target_uri=target_uri)  # type: ignore[no-any-return]


REALTIME = RealtimeRuntime()
LIVE = LiveRuntime()
#: The runtime of each ``runtime`` name (``config.models.RUNTIMES``).
RUNTIMES: dict[str, CallRuntime] = {REALTIME.name: REALTIME, LIVE.name: LIVE}
