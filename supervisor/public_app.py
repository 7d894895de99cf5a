"""The public HTTP app: ``POST /webhooks/openai`` and ``GET /health``, as a bare ASGI 3 app.

Two routes do not need a web framework, and Quart's request and response machinery cost more
CPU than the routes themselves (docs/decisions/0008-bare-asgi-public-port.md).  Every answer is
JSON (``Content-Type: application/json``):

==============================================  ======  =========================================
request                                         status  body
==============================================  ======  =========================================
``POST /webhooks/openai``                       any     what :meth:`WebhookIntake.handle` answers
... body over 256 KiB (announced or read)       413     ``{"ok": false, "error": "body_too_large"}``
... body not complete 60 s after the headers    408     ``{"ok": false, "error": "request_timeout"}``
``GET /health`` (``HEAD`` too)                  200     ``{"ok": true, "status": ..., "draining": ..., "replica_id": ...}``
another method on one of these paths            405     ``{"ok": false, "error": "method_not_allowed"}``
any other path                                  404     ``{"ok": false, "error": "not_found"}``
a bug (an exception in a route)                 500     ``{"ok": false, "error": "internal_error", "retry": true}``
==============================================  ======  =========================================

413 and 408 say ``Connection: close`` (the unread rest of the body makes the connection
unusable), 405 says ``Allow``.  A client that disconnects before its body is read gets no answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import trio
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, HTTPScope, Scope, WebsocketScope

from .asgi import answer_lifespan
from .intake import MAX_BODY_BYTES, WebhookIntake
from .supervisor import Supervisor

Headers = tuple[tuple[bytes, bytes], ...]
#: status, headers, body
Answer = tuple[int, Headers, bytes]

WEBHOOK_PATH = "/webhooks/openai"
HEALTH_PATH = "/health"
WEBHOOK_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
#: How long a webhook's body may take to arrive after its headers (Quart's ``BODY_TIMEOUT``).
BODY_TIMEOUT_S = 60.0

#: The logger Quart used (the app's name): a route's traceback is logged here, at ERROR.
logger = logging.getLogger("callvisor.public")

_WEBHOOK_HEADER_NAMES = {name.encode(): name for name in WEBHOOK_HEADERS}
# What Quart's JSON provider wrote: compact, ASCII only, keys in insertion order, one newline.
_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))


def _json_answer(status: int, payload: dict[str, Any], *headers: tuple[bytes, bytes]) -> Answer:
    return _answer(status, _ENCODER.encode(payload).encode() + b"\n", headers)


def _answer(status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = ()) -> Answer:
    return (
        status,
        ((b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)), *headers),
        body,
    )


_NOT_FOUND = _json_answer(404, {"ok": False, "error": "not_found"})
_NOT_ALLOWED = {
    WEBHOOK_PATH: _json_answer(405, {"ok": False, "error": "method_not_allowed"}, (b"allow", b"POST")),
    HEALTH_PATH: _json_answer(405, {"ok": False, "error": "method_not_allowed"}, (b"allow", b"GET, HEAD")),
}
_REQUEST_TIMEOUT = _json_answer(408, {"ok": False, "error": "request_timeout"}, (b"connection", b"close"))
# Only a bug gets here; OpenAI will redeliver.
_INTERNAL_ERROR = _json_answer(500, {"ok": False, "error": "internal_error", "retry": True})


class PublicApp:
    """The public port's ASGI 3 application; :func:`create_public_app` builds it."""

    def __init__(self, intake: WebhookIntake, supervisor: Supervisor) -> None:
        self._intake = intake
        self._supervisor = supervisor
        replica_id = supervisor.settings.replica_id
        # The answer changes once, when a drain begins: both are encoded ahead.
        self._health = {
            draining: _json_answer(
                200,
                {
                    "ok": True,
                    "status": "draining" if draining else "serving",
                    "draining": draining,
                    "replica_id": replica_id,
                },
            )
            for draining in (False, True)
        }

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await answer_lifespan(receive, send)  # the service owns all the routes use
        elif scope["type"] == "websocket":
            await _refuse_websocket(scope, send)

    async def _http(self, scope: HTTPScope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        try:
            routed = await self._route(scope, receive)
        except Exception:
            # The request's boundary, where Quart caught a route's bug: logged once, answered 500.
            logger.error("Exception on request %s %s", scope["method"], _path(scope), exc_info=True)
            routed = _INTERNAL_ERROR, True
        if routed is None:
            return
        answer, body_unread = routed
        if body_unread:
            await _send_discarding_body(receive, send, answer)
        else:
            await _send(send, answer)

    async def _route(self, scope: HTTPScope, receive: ASGIReceiveCallable) -> tuple[Answer, bool] | None:
        """The answer, and whether some of the request's body is still unread.

        ``None`` when the client left before its request was read: nobody to answer.
        """
        path = _path(scope)
        method = scope["method"]
        if path == WEBHOOK_PATH:
            if method == "POST":
                return await self._webhook(scope["headers"], receive)
            return _NOT_ALLOWED[path], _has_body(scope["headers"])
        if path == HEALTH_PATH:
            if method in ("GET", "HEAD"):  # hypercorn drops the body of a HEAD answer
                return self._health[self._supervisor.draining], _has_body(scope["headers"])
            return _NOT_ALLOWED[path], _has_body(scope["headers"])
        return _NOT_FOUND, _has_body(scope["headers"])

    async def _webhook(
        self, raw_headers: Iterable[tuple[bytes, bytes]], receive: ASGIReceiveCallable
    ) -> tuple[Answer, bool] | None:
        headers: dict[str, str] = {}
        announced = None
        for raw_name, raw_value in raw_headers:
            name = raw_name.lower()
            wanted = _WEBHOOK_HEADER_NAMES.get(name)
            if wanted is not None:
                # A repeated header: the first one counts (as werkzeug's Headers.get did).
                headers.setdefault(wanted, raw_value.decode("latin-1"))
            elif name == b"content-length":
                announced = _int_or_none(raw_value)
        if announced is not None and announced > MAX_BODY_BYTES:
            return self._too_large(), True

        chunks: list[bytes] = []
        size = 0
        body = None
        with trio.move_on_after(BODY_TIMEOUT_S):
            while body is None:
                message = await receive()
                if message["type"] != "http.request":  # http.disconnect
                    return None
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    return self._too_large(), True
                chunks.append(chunk)
                if not message.get("more_body", False):
                    body = b"".join(chunks)
        if body is None:
            return _REQUEST_TIMEOUT, True
        status, payload = await self._intake.handle(body, headers)
        return _json_answer(status, payload), False

    def _too_large(self) -> Answer:
        status, payload = self._intake.too_large()
        # Byte for byte what the Quart app sent: json.dumps' default separators, no newline.
        return _answer(status, json.dumps(payload).encode(), ((b"connection", b"close"),))


def create_public_app(intake: WebhookIntake, supervisor: Supervisor) -> PublicApp:
    return PublicApp(intake, supervisor)


def _path(scope: HTTPScope) -> str:
    path = scope["path"]
    # An absolute-form target (``GET http://host/health HTTP/1.1``) arrives whole.
    return path if path.startswith("/") else urlsplit(path).path


def _has_body(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether the request announces a body."""
    for raw_name, value in headers:
        name = raw_name.lower()
        if name == b"transfer-encoding" or (name == b"content-length" and _int_or_none(value) != 0):
            return True
    return False


def _int_or_none(value: bytes) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


async def _send(send: ASGISendCallable, answer: Answer) -> None:
    status, headers, body = answer
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_discarding_body(receive: ASGIReceiveCallable, send: ASGISendCallable, answer: Answer) -> None:
    """Send ``answer`` while reading (and dropping) what is left of the request's body.

    hypercorn hands the body to the app through a bounded queue, and when the answer is
    complete it puts ``http.disconnect`` on that queue from inside our last ``send``.  With the
    queue full of body nobody reads, that ``send`` would never return, and the connection would
    stay open for good.
    """
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_discard_body, receive)
        await _send(send, answer)
        nursery.cancel_scope.cancel()


async def _discard_body(receive: ASGIReceiveCallable) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _refuse_websocket(scope: WebsocketScope, send: ASGISendCallable) -> None:
    """No route takes a websocket: answer the upgrade with the 404, or close it."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        status, headers, body = _NOT_FOUND
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body, "more_body": False})
    else:
        await send({"type": "websocket.close", "code": 1000, "reason": None})
