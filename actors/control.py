"""Call control: accept, reject, hang up and refer calls through OpenAI's REST API.

One adapter around ``AsyncOpenAI().realtime.calls`` and, for GPT-Live calls,
``AsyncOpenAI().live.sessions`` (each method takes the call's :class:`~actors.runtime.CallRuntime`,
Realtime by default).  It is the only seam where the SDK's
exceptions are mapped to ours:

* ``openai.NotFoundError`` (404) becomes :class:`CallGoneError`: the caller hung up or the
  call was already finished.  Terminal but not a failure.
* everything else (5xx, other 4xx, timeouts, refused connections) becomes
  :class:`CallControlError` with a reason code (``openai_5xx``, ``openai_4xx``, ``timeout``,
  ``connection_error``, ``tls_error`` with the certificate problem in ``tls_reason``) and the
  HTTP status when there was one.

Requests go through the SDK's public API, on a trio-native HTTP/1.1 transport
(:mod:`actors.transport`) instead of its default httpcore2/anyio one, and the session travels
as ``extra_body``: it is built here already in the wire format, so the SDK's per-request
type-driven transform of it is skipped.  Both were measured as the larger part of an accept's
CPU (docs/benchmarks.md, Profile).

The SDK is built with ``max_retries=0``: an accept or refer has no idempotency key, so a blind
retry may hit a call that already changed state.  OpenAI redelivers the webhook instead.  Every
request is bounded by ``timeout_s`` with a trio cancel scope (the SDK's own timeout is per phase,
not total).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import openai
import trio

from config.health import DependencyHealth

from .errors import (
    CallAcceptError,
    CallControlError,
    CallGoneError,
    CallHangupError,
    CallReferError,
    CallRejectError,
)
from .runtime import REALTIME, CallRuntime
from .tls import describe_tls_failure, tls_failure
from .transport import TrioTransport

#: Call-control requests in flight at once, below the SDK's connection pool (100).
MAX_IN_FLIGHT = 64


_FAILURE_BY_ACTION: dict[str, type[CallControlError]] = {
    "accept": CallAcceptError,
    "reject": CallRejectError,
    "hangup": CallHangupError,
    "refer": CallReferError,
}


class CallControl:
    """Accept/reject/hangup/refer for one OpenAI project."""

    def __init__(
        self, client: openai.AsyncOpenAI, *, timeout_s: float, max_in_flight: int = MAX_IN_FLIGHT
    ) -> None:
        self._client = client.with_options(max_retries=0, timeout=timeout_s)
        self.timeout_s = timeout_s
        # Requests wait here (cheap) rather than in the HTTP client's connection pool, whose
        # bookkeeping grows with its queue and can stall the event loop under a burst.
        self._in_flight = trio.CapacityLimiter(max_in_flight)
        #: What the requests found (GET /ready, callvisor_call_control_failures_total).  An
        #: answer, 404 included, is a success: OpenAI was reached and answered.
        self.health = DependencyHealth("call_control")

    @classmethod
    def create(
        cls, *, api_key: str, base_url: str, timeout_s: float, ssl_context: ssl.SSLContext
    ) -> CallControl:
        """The production adapter: the SDK on our transport, TLS with the process's context."""
        transport = TrioTransport(ssl_context=ssl_context, max_idle_per_origin=MAX_IN_FLIGHT)
        http_client = openai.DefaultAsyncHttpxClient(transport=transport)
        client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0, http_client=http_client)
        return cls(client, timeout_s=timeout_s)

    async def aclose(self) -> None:
        """Close the HTTP client (the SDK's garbage-collection cleanup is asyncio-only)."""
        await self._client.close()

    async def accept(
        self, call_id: str, session: dict[str, Any], *, runtime: CallRuntime = REALTIME
    ) -> None:
        """Accept ``call_id`` with ``session`` (wire format, from ``runtime.accept_session``)."""
        client = self._client
        await self._call("accept", call_id, lambda: runtime.accept_request(client, call_id, session))

    async def reject(self, call_id: str, *, sip_status: int, runtime: CallRuntime = REALTIME) -> None:
        client = self._client
        await self._call("reject", call_id, lambda: runtime.reject_request(client, call_id, sip_status))

    async def hangup(self, call_id: str, *, runtime: CallRuntime = REALTIME) -> None:
        client = self._client
        await self._call("hangup", call_id, lambda: runtime.hangup_request(client, call_id))

    async def refer(self, call_id: str, *, target_uri: str, runtime: CallRuntime = REALTIME) -> None:
        client = self._client
        await self._call("refer", call_id, lambda: runtime.refer_request(client, call_id, target_uri))

    async def _call(self, action: str, call_id: str, request: Callable[[], Awaitable[object]]) -> None:
        try:
            await self._request(action, call_id, request)
        except CallGoneError:
            self.health.succeeded()
            raise
        except CallControlError as err:
            self.health.failed(err.reason, action=action)
            raise
        self.health.succeeded()

    async def _request(self, action: str, call_id: str, request: Callable[[], Awaitable[object]]) -> None:
        context: dict[str, Any] = {"action": action}
        failure = _FAILURE_BY_ACTION[action]
        try:
            with trio.fail_after(self.timeout_s):
                async with self._in_flight:
                    await request()
        except trio.TooSlowError:
            raise failure(
                f"{action} did not complete within {self.timeout_s:g} s",
                reason="timeout",
                context=context,
            ) from None
        except openai.NotFoundError as exc:
            raise CallGoneError(
                f"{action}: OpenAI does not know call {call_id}",
                reason="call_not_found",
                context={**context, "status": 404},
            ) from exc
        except openai.APIStatusError as exc:
            family = "openai_5xx" if exc.status_code >= 500 else "openai_4xx"
            raise failure(
                f"{action} answered HTTP {exc.status_code}",
                reason=family,
                context={**context, "status": exc.status_code, "request_id": exc.request_id},
            ) from exc
        except openai.APITimeoutError as exc:
            raise failure(
                f"{action} timed out", reason="timeout", context=context
            ) from exc
        except openai.APIConnectionError as exc:
            tls = tls_failure(exc)
            if tls is not None:
                raise failure(
                    f"{action}: TLS with OpenAI failed",
                    reason="tls_error",
                    context={**context, "tls_reason": describe_tls_failure(tls)},
                ) from exc
            raise failure(
                f"{action} could not reach OpenAI", reason="connection_error", context=context
            ) from exc
