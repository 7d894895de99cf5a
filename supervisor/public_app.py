"""The public HTTP app: ``POST /webhooks/openai`` and ``GET /health``."""

from __future__ import annotations

import json
from typing import Any

from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import RequestEntityTooLarge

from .intake import MAX_BODY_BYTES, WebhookIntake
from .supervisor import Supervisor

WEBHOOK_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def create_public_app(intake: WebhookIntake, supervisor: Supervisor) -> QuartTrio:
    app = QuartTrio("callvisor.public")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]

    @app.post("/webhooks/openai")
    async def openai_webhook() -> tuple[dict[str, Any], int] | Response:
        try:
            body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
        except RequestEntityTooLarge:
            return _too_large(intake)
        headers = {
            name: value
            for name in WEBHOOK_HEADERS
            if (value := request.headers.get(name)) is not None
        }
        status, payload = await intake.handle(body if isinstance(body, bytes) else body.encode(), headers)
        return payload, status

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "ok": True,
            "status": "draining" if supervisor.draining else "serving",
            "draining": supervisor.draining,
            "replica_id": supervisor.settings.replica_id,
        }

    @app.errorhandler(404)
    async def not_found(_error: Exception) -> tuple[dict[str, Any], int]:
        return {"ok": False, "error": "not_found"}, 404

    @app.errorhandler(405)
    async def method_not_allowed(_error: Exception) -> tuple[dict[str, Any], int]:
        return {"ok": False, "error": "method_not_allowed"}, 405

    @app.errorhandler(500)
    async def internal_error(_error: Exception) -> tuple[dict[str, Any], int]:
        # Only a bug gets here (Quart logs its traceback); OpenAI will redeliver.
        return {"ok": False, "error": "internal_error", "retry": True}, 500

    @app.errorhandler(413)
    async def too_large(_error: Exception) -> Response:
        return _too_large(intake)

    return app


def _too_large(intake: WebhookIntake) -> Response:
    """413 with ``Connection: close``: the unread rest of the body makes the connection unusable."""
    status, payload = intake.too_large()
    response = Response(json.dumps(payload), status=status, content_type="application/json")
    response.headers["Connection"] = "close"
    return response
