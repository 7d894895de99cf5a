"""The GPT-Live sideband's event shapes the simulated platform sends (private; see supervisor.testing).

Pure builders, one per server event of the openai SDK's ``ConnectServerEvent`` union that the
platform uses (``openai.types.live``), and the nested Responses streaming events a Responses
delegation wraps in ``response.event`` (``openai.types.responses.ResponseStreamEvent``).
Checked against those models in tests/test_testing_live_platform.py.

Audio on the sideband is raw mono PCM16LE at 24 kHz, base64-encoded (SDK docstrings of
``OutputAudioDeltaEvent`` and ``SessionInputAudioAppend``): 48,000 bytes a second.
"""

from __future__ import annotations

import array
import base64
import functools
import sys
import time
from typing import Any

from ._shapes import new_id

#: Bytes of reflected audio per millisecond: 24,000 samples/s x 2 bytes (PCM16), mono.
PCM_BYTES_PER_MS = 48
#: Fields of the accept body's ``session`` that the resolved session resource echoes.
SESSION_FIELDS = (
    "model",
    "instructions",
    "audio",
    "delegation",
    "input",
    "store",
    "safety_identifier",
    "triggers",
)
#: How long a session lives before the platform says ``expired`` (the SDK's ``expires_at``;
#: the real limit is not documented, so this is a placeholder).
SESSION_LIFETIME_S = 3600


def session_resource(session_id: str, accept_body: dict[str, Any] | None) -> dict[str, Any]:
    """The resolved session (``SessionResource``) from the body of the accept that succeeded."""
    config = (accept_body or {}).get("session")
    config = config if isinstance(config, dict) else {}
    resource: dict[str, Any] = {
        "id": session_id,
        "expires_at": int(time.time()) + SESSION_LIFETIME_S,
        "model": config.get("model") or "gpt-live-1",
        "status": "active",
        "audio": {"output": {"voice": "marin"}},
        "delegation": {"type": "client"},
        "instructions": "",
    }
    resource.update({key: config[key] for key in SESSION_FIELDS if config.get(key) is not None})
    return resource


def session_event(
    kind: str, session: dict[str, Any], client_event_id: object = None
) -> dict[str, Any]:
    """``session.started`` or ``session.updated``."""
    return _with_client_id(
        {"type": kind, "event_id": new_id("event"), "session": session}, client_event_id
    )


def session_closed(
    reason: str, session: dict[str, Any], seconds: float, client_event_id: object = None
) -> dict[str, Any]:
    event = {
        "type": "session.closed",
        "event_id": new_id("event"),
        "reason": reason,
        "session": session,
        "usage": {"seconds": float(int(seconds))},
    }
    return _with_client_id(event, client_event_id)


def ack(kind: str, client_event_id: object = None, **fields: Any) -> dict[str, Any]:
    """An acknowledgement (``session.instructions.appended``, ``transport.dtmf.sent``...)."""
    return _with_client_id({"type": kind, "event_id": new_id("event"), **fields}, client_event_id)


def error_event(
    code: str, message: str, *, param: str | None = None, client_event_id: object = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"type": "invalid_request_error", "code": code, "message": message}
    if param is not None:
        error["param"] = param
    event = {"type": "error", "event_id": new_id("event"), "error": error}
    if isinstance(client_event_id, str):
        error["client_event_id"] = client_event_id
    return _with_client_id(event, client_event_id)


def output_audio(start_ms: int, end_ms: int, *, audible: bool = True) -> dict[str, Any]:
    """Reflected model audio for ``[start_ms, end_ms)``, speech (a quiet tone) or, not
    ``audible``, silence: no ``event_id`` (the SDK has none)."""
    duration_ms = end_ms - start_ms
    return {
        "type": "session.output_audio.delta",
        "delta": tone(duration_ms) if audible else silence(duration_ms),
        "start_ms": start_ms,
        "end_ms": end_ms,
    }


def input_audio(duration_ms: int) -> dict[str, Any]:
    """Reflected caller audio (silence): no ``event_id`` and no timestamps, as the SDK documents."""
    return {"type": "session.input_audio.append", "audio": silence(duration_ms)}


@functools.cache
def silence(duration_ms: int) -> str:
    return base64.b64encode(bytes(PCM_BYTES_PER_MS * duration_ms)).decode()


#: The simulated model's voice: a 400 Hz square wave at about -30 dBFS (1,000 of 32,767), loud
#: enough to be heard (``actors.live_playback.AUDIBLE_PEAK``), quiet enough to stay a test tone.
TONE_AMPLITUDE = 1000


@functools.cache
def tone(duration_ms: int) -> str:
    """``duration_ms`` of the simulated voice, base64 PCM16LE at 24 kHz."""
    period = 24_000 // 400
    samples = [TONE_AMPLITUDE if (n % period) < period // 2 else -TONE_AMPLITUDE for n in range(24 * duration_ms)]
    pcm = array.array("h", samples)
    if sys.byteorder == "big":
        pcm.byteswap()
    return base64.b64encode(pcm.tobytes()).decode()


def transcript(text: str, start_ms: int, end_ms: int) -> dict[str, Any]:
    return {
        "type": "session.output_transcript.delta",
        "event_id": new_id("event"),
        "delta": text,
        "start_ms": start_ms,
        "end_ms": end_ms,
    }


def delegation_created(delegation_id: str, response_id: str, offset_ms: int) -> dict[str, Any]:
    return {
        "type": "session.delegation.created",
        "event_id": new_id("event"),
        "delegation": {
            "id": delegation_id,
            "type": "delegation",
            "target": "responses",
            "response_id": response_id,
        },
        "offset_ms": offset_ms,
    }


def wrapped(delegation_id: str | None, nested: dict[str, Any]) -> dict[str, Any]:
    """One nested Responses streaming event in its ``response.event`` envelope."""
    return {
        "type": "response.event",
        "event_id": new_id("event"),
        "delegation_id": delegation_id,
        "event": nested,
    }


def snapshot(kind: str, response_id: str, status: str, model: str) -> dict[str, Any]:
    """``response.created`` / ``response.completed`` as Live relays them: output, tools and
    instructions cleared (reference section 4.1), so the calls are read from the item events."""
    return {
        "type": kind,
        "sequence_number": 0,
        "response": {
            "id": response_id,
            "object": "response",
            "created_at": int(time.time()),
            "model": model,
            "status": status,
            "output": [],
            "tools": [],
            "instructions": None,
            "tool_choice": "auto",
            "parallel_tool_calls": True,
        },
    }


def function_call_events(
    item_id: str, call_id: str, name: str, arguments: str, index: int
) -> list[dict[str, Any]]:
    """The granular nested events of one function call: item added, arguments, item done."""
    item = {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": "",
    }
    return [
        {
            "type": "response.output_item.added",
            "output_index": index,
            "item": {**item, "status": "in_progress"},
        },
        {
            "type": "response.function_call_arguments.delta",
            "output_index": index,
            "item_id": item_id,
            "delta": arguments,
        },
        {
            "type": "response.function_call_arguments.done",
            "output_index": index,
            "item_id": item_id,
            "arguments": arguments,
        },
        {
            "type": "response.output_item.done",
            "output_index": index,
            "item": {**item, "arguments": arguments, "status": "completed"},
        },
    ]


def message_events(item_id: str, text: str) -> list[dict[str, Any]]:
    """The backend's text answer (which the Live model then speaks): item added, delta, done."""
    message: dict[str, Any] = {"type": "message", "id": item_id, "role": "assistant", "content": []}
    part = {"type": "output_text", "text": text, "annotations": []}
    return [
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**message, "status": "in_progress"},
        },
        {
            "type": "response.output_text.delta",
            "output_index": 0,
            "item_id": item_id,
            "content_index": 0,
            "delta": text,
            "logprobs": [],
        },
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {**message, "status": "completed", "content": [part]},
        },
    ]


def _with_client_id(event: dict[str, Any], client_event_id: object) -> dict[str, Any]:
    if isinstance(client_event_id, str):
        event["client_event_id"] = client_event_id
    return event
