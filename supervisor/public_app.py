"""The public HTTP app: ``POST /webhooks/openai`` and ``GET /health``, a QuartTrio app.

Built by :func:`supervisor.json_app.create_json_app`, like the operator port, so every answer
is JSON (``Content-Type: application/json``):

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
unusable), 405 says ``Allow``.  A client that disconnects before its body is read gets no
answer; one that disconnects mid-decision cancels the request but not the decision, which
:meth:`WebhookIntake.handle` shields (docs/decisions/0011-quart-trio-public-port.md).
"""

from __future__ import annotations

import json

from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout

from .intake import MAX_BODY_BYTES, WebhookIntake
from .json_app import create_json_app, encode_json, json_bytes_response, json_response
from .supervisor import Supervisor

WEBHOOK_PATH = "/webhooks/openai"
HEALTH_PATH = "/health"
WEBHOOK_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
#: How long a webhook's body may take to arrive after its headers (Quart's ``BODY_TIMEOUT``).
BODY_TIMEOUT_S = 60.0


def create_public_app(intake: WebhookIntake, supervisor: Supervisor) -> QuartTrio:
    app = create_json_app("callvisor.public")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["BODY_TIMEOUT"] = BODY_TIMEOUT_S

    @app.post(WEBHOOK_PATH)
    async def openai_webhook() -> Response:
        try:
            body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
        except RequestEntityTooLarge:
            return _too_large(intake)
        except RequestTimeout:
            return json_response(408, {"ok": False, "error": "request_timeout"}, headers={"Connection": "close"})
        # A repeated header: the first one counts (werkzeug's Headers.get).
        headers = {name: value for name in WEBHOOK_HEADERS if (value := request.headers.get(name)) is not None}
        status, payload = await intake.handle(body if isinstance(body, bytes) else body.encode(), headers)
        return json_response(status, payload)

    # The answer changes once, when a drain begins: both are encoded ahead.
    replica_id = supervisor.settings.replica_id
    health_bodies = {
        draining: encode_json({
            "ok": True,
            "status": "draining" if draining else "serving",
            "draining": draining,
            "replica_id": replica_id,
        })
        for draining in (False, True)
    }

    @app.get(HEALTH_PATH)  # HEAD too: Quart adds it, hypercorn drops the body
    async def health() -> Response:
        return json_bytes_response(200, health_bodies[supervisor.draining])

    return app


def _too_large(intake: WebhookIntake) -> Response:
    """413 with ``Connection: close``: the unread rest of the body makes the connection unusable."""
    status, payload = intake.too_large()
    # json.dumps' default separators and no newline, as both earlier apps sent it.
    response = Response(json.dumps(payload), status=status, content_type="application/json")
    response.headers["Connection"] = "close"
    return response
