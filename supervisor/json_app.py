"""The QuartTrio app shape every HTTP app here shares: every answer JSON, errors included.

The public port (``public_app``), the operator port (``admin_app``), the simulated platform's
REST half (``supervisor/testing/_rest.py``), ``callvisor simulate``'s control API and the
benchmarks' platform control API are built by
:func:`create_json_app`, which answers
Quart's own errors as JSON instead of werkzeug's HTML pages:

======  ===============================================================  ======================
status  body                                                             headers
======  ===============================================================  ======================
404     ``{"ok": false, "error": "not_found"}``
405     ``{"ok": false, "error": "method_not_allowed"}``                 ``Allow``
500     ``{"ok": false, "error": "internal_error", "retry": true}``
======  ===============================================================  ======================

A websocket upgrade gets the 404 too (no route takes one), and so does a path that encodes a
slash (``%2F``), which routing would otherwise see decoded.  A 500 is a bug in a route: Quart
logs its traceback once, at ERROR, on the app's logger (the app's name, e.g.
``callvisor.public``), before the handler answers.  An app that answers its errors in another shape (the simulated platform speaks OpenAI's) registers its own handlers on
top.  Paths match exactly (no merging of repeated slashes, no redirect to a canonical URL) and
no automatic ``OPTIONS`` route is added.
"""

from __future__ import annotations

import json
from typing import Any

import trio
from hypercorn.typing import ASGISendCallable
from quart import Request, Response, request
from quart_trio import QuartTrio
from quart_trio.asgi import TrioASGIHTTPConnection
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing.exceptions import WebsocketMismatch

#: The methods a 405's ``Allow`` lists first, in this order; any other after them, sorted.
_METHOD_ORDER = {name: rank for rank, name in enumerate(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"))}


# What Quart's JSON provider writes (app.json.sort_keys off): compact, ASCII only, insertion order.
_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))

#: How long sending an answer may take once it has begun, however the request ends meanwhile.
SEND_ANSWER_TIMEOUT_S = 10.0


class _HTTPConnection(TrioASGIHTTPConnection):
    """quart-trio's request handling, but an answer being sent is not cancelled by the request's end.

    quart-trio runs a request as two tasks, one reading the body, one running the route, and
    cancels both when either ends.  hypercorn puts ``http.disconnect`` on the body's queue from
    inside the app's last ``send``, and closes the connection (after ``Connection: close``) in
    that same ``send`` afterwards: the body reader, seeing the disconnect, would cancel that
    close, and a 413's connection would stay open.  So the answer is sent shielded, bounded by
    :data:`SEND_ANSWER_TIMEOUT_S`, in one cancel scope that also stands for quart-trio's
    ``RESPONSE_TIMEOUT`` (no answer here is streamed).
    """

    async def handle_request(  # type: ignore[override]
        self, nursery: trio.Nursery, request: Request, send: ASGISendCallable
    ) -> None:
        response = await self.app.handle_request(request)
        with trio.move_on_after(SEND_ANSWER_TIMEOUT_S, shield=True):
            await self._send_response(send, response)
        nursery.cancel_scope.cancel()


class JSONApp(QuartTrio):
    """A QuartTrio app served by :class:`_HTTPConnection`; :func:`create_json_app` builds it."""

    asgi_http_class = _HTTPConnection


def create_json_app(name: str) -> QuartTrio:
    """A QuartTrio app named ``name`` whose 404, 405 and 500 answers are JSON."""
    app = JSONApp(name)
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # ``//health`` is not ``/health`` (werkzeug would merge the slashes, with a 308 HTML redirect).
    app.url_map.merge_slashes = False

    @app.before_request
    async def encoded_slash() -> Response | None:
        # Routing sees the decoded path: ``/actors/a%2Fhangup`` would route as a hangup of ``a``.
        # No id or path of ours holds a slash, so a path that encodes one names nothing.
        if b"%2f" in request.scope.get("raw_path", b"").lower():
            return json_response(404, {"ok": False, "error": "not_found"})
        return None

    @app.errorhandler(404)
    # A websocket upgrade on an HTTP route (werkzeug's 400 HTML page): no route takes one.
    @app.errorhandler(WebsocketMismatch)
    async def not_found(_error: HTTPException) -> Response:
        return json_response(404, {"ok": False, "error": "not_found"})

    @app.errorhandler(405)
    async def method_not_allowed(error: HTTPException) -> Response:
        response = json_response(405, {"ok": False, "error": "method_not_allowed"})
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = allow_header(error.valid_methods)
        return response

    @app.errorhandler(500)
    async def internal_error(_error: HTTPException) -> Response:
        # Only a bug gets here, already logged by Quart; the caller may try again.
        return json_response(500, {"ok": False, "error": "internal_error", "retry": True})

    return app


def json_response(status: int, payload: dict[str, Any], *, headers: dict[str, str] | None = None) -> Response:
    """``payload`` as Quart's JSON provider writes it (compact, ASCII, insertion order, one newline).

    Encoded here rather than by ``app.json.response``, which costs twice as much per answer.
    """
    return json_bytes_response(status, encode_json(payload), headers=headers)


def encode_json(payload: dict[str, Any]) -> bytes:
    return _ENCODER.encode(payload).encode() + b"\n"


def json_bytes_response(status: int, body: bytes, *, headers: dict[str, str] | None = None) -> Response:
    """An answer of JSON already encoded (:func:`encode_json`)."""
    response = Response(body, status, content_type="application/json")
    if headers:
        response.headers.update(headers)
    return response


def allow_header(methods: Any) -> str:
    """An ``Allow`` value: the usual methods in their usual order, then any other."""
    return ", ".join(sorted(set(methods), key=lambda name: (_METHOD_ORDER.get(name, len(_METHOD_ORDER)), name)))
