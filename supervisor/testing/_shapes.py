"""The Realtime API's event shapes the simulated sideband sends (private; see supervisor.testing).

Checked against the openai SDK's models in tests/test_testing_platform.py.
"""

from __future__ import annotations

import secrets
from typing import Any


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def session_from_accept(body: dict[str, Any]) -> dict[str, Any]:
    session = {
        "type": "realtime",
        "object": "realtime.session",
        "id": new_id("sess"),
        "model": "gpt-realtime",
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
    }
    session.update(body)
    return session


def response_event(
    kind: str, response_id: str, status: str, output: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "type": kind,
        "event_id": new_id("event"),
        "response": {
            "id": response_id,
            "object": "realtime.response",
            "status": status,
            "output": output,
        },
    }


def audio_event(kind: str, response_id: str) -> dict[str, Any]:
    return {"type": kind, "event_id": new_id("event"), "response_id": response_id}


def error_event(
    code: str, message: str, param: str | None, error_type: str, client_event_id: object
) -> dict[str, Any]:
    return {
        "type": "error",
        "event_id": new_id("event"),
        "error": {
            "type": error_type,
            "code": code,
            "message": message,
            "param": param,
            "event_id": client_event_id,
        },
    }
