"""The GPT-Live half of the simulated platform's REST API (private; see supervisor.testing).

``POST /v1/live/sessions/{session_id}/{accept|reject|hangup|refer}`` is answered by
``_rest.answer`` in the same order as the Realtime paths (recorded, key, scripted delay, failure,
drop, 404, 400, 200) and with the same effects on the call; what differs is which bodies OpenAI
refuses, and that is here:

==========  ===============================================================================
action      400 unless
==========  ===============================================================================
accept      the body is ``{"session": {...}}`` and nothing else; the session has
            ``"type": "live"`` and a non-empty ``model``, no key the SDK's ``Session`` type
            does not name (the Live config is strict), and no ``audio.format`` (SIP
            negotiates media itself; ``audio`` holds ``output.voice`` only)
reject      ``status_code`` is an integer from 300 to 699 (required, unlike Realtime's)
hangup      the body is empty or ``{}``
refer       ``target_uri`` is a string that is not blank
==========  ===============================================================================

A session id is known on this surface only when its webhook was a Live one (the call's
``runtime`` is ``live``): a Realtime ``rtc_`` id on the Live paths, or a ``live_`` id on the
Realtime paths, is a 404, as the two ids of one SIP call are distinct on OpenAI's side.
"""

from __future__ import annotations

from typing import Any

from openai.types.live.session_accept_params import Session

#: The path prefix of the Live call-control API.
LIVE_PREFIX = "/v1/live/sessions/"

#: Every key the SDK's Live accept ``session`` may hold.
SESSION_KEYS = frozenset(Session.__required_keys__ | Session.__optional_keys__)
#: The SIP status range a Live reject takes.
REJECT_STATUS_RANGE = range(300, 700)


def api_error(
    code: str, message: str, *, param: str | None = None, kind: str = "invalid_request_error"
) -> dict[str, Any]:
    """OpenAI's error body."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def live_refusal(action: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """The 400 body OpenAI would answer a Live ``action`` with ``body``, or None when it is valid."""
    if action == "accept":
        return _accept_refusal(body)
    if action == "reject":
        status_code = body.get("status_code")
        if type(status_code) is not int:
            return api_error(
                "missing_required_parameter",
                "Missing required parameter: 'status_code' (an integer).",
                param="status_code",
            )
        if status_code not in REJECT_STATUS_RANGE:
            return api_error(
                "invalid_value", "status_code must be between 300 and 699.", param="status_code"
            )
        return None
    if action == "hangup":
        return _unknown(next(iter(body))) if body else None
    target = body.get("target_uri")
    if not isinstance(target, str) or not target.strip():
        return api_error(
            "missing_required_parameter",
            "Missing required parameter: 'target_uri'.",
            param="target_uri",
        )
    return None


def _accept_refusal(body: dict[str, Any]) -> dict[str, Any] | None:
    session = body.get("session")
    if not isinstance(session, dict):
        return api_error(
            "missing_required_parameter", "Missing required parameter: 'session'.", param="session"
        )
    extra = sorted(set(body) - {"session"})
    if extra:
        return _unknown(extra[0])
    if session.get("type") != "live":
        return api_error(
            "invalid_value", "session.type must be 'live'.", param="session.type"
        )
    model = session.get("model")
    if not isinstance(model, str) or not model.strip():
        return api_error(
            "missing_required_parameter",
            "Missing required parameter: 'session.model'.",
            param="session.model",
        )
    unknown = sorted(set(session) - SESSION_KEYS)
    if unknown:
        return _unknown(f"session.{unknown[0]}")
    audio = session.get("audio", {})
    if not isinstance(audio, dict):
        return api_error("invalid_type", "session.audio must be an object.", param="session.audio")
    if set(audio) - {"output"}:
        return _unknown(f"session.audio.{sorted(set(audio) - {'output'})[0]}")
    output = audio.get("output", {})
    if not isinstance(output, dict) or set(output) - {"voice"}:
        return api_error(
            "unknown_parameter",
            "session.audio.output takes only 'voice' (no audio.format on SIP).",
            param="session.audio.output",
        )
    return None


def _unknown(param: str) -> dict[str, Any]:
    return api_error("unknown_parameter", f"Unknown parameter: '{param}'.", param=param)
