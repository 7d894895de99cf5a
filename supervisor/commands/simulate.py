"""``callvisor simulate``: the simulated OpenAI platform as a process of its own.

For checks and benchmarks that run callvisor as a separate process.  It serves the REST API
(``/v1/realtime/calls/...``) and the sideband websocket exactly as :mod:`supervisor.testing`
does, and a small control API on a third port to script it and read what it saw:

================================  ==========================================================
``GET  /state``                   urls, api key, calls by state, live sidebands, pending scripts
``GET  /requests[?call_id=ID]``   every call-control request (action, call_id, body, at)
``GET  /calls/{id}/events``       the client events received on that call's sideband
``POST /calls/{id}``              make the call known (as a webhook would)
``POST /calls/{id}/gone``         the caller hung up: accept/reject/hangup answer 404
``POST /calls/{id}/function_call``  ``{"name", "arguments"}``: the model calls a tool
``POST /calls/{id}/hangup``       ``{"abrupt": bool}``: the caller hangs up (close or TCP drop)
``POST /calls/{id}/send``         any server event (JSON object) on the call's sideband
``POST /fail``                    ``{"action", "call_id"?, "status"?, "times"?}``
``POST /delay``                   ``{"action", "seconds", "call_id"?, "times"?}``
``POST /fail_connect``            ``{"call_id"?, "times"?}``: sideband handshakes answer 404
``POST /settings``                ``{"auto_audio", "audio_duration_s", "refer_closes_after_s",
                                  "reflect_audio", "audio_frame_ms"}``: any of them; answers
                                  all of them
================================  ==========================================================

By default every call_id is known (``--strict-calls`` turns that off), so a webhook posted by
another tool can be accepted without registering the call first.  ``--tls`` serves the REST API
over https and the sideband over wss, as OpenAI does, with a certificate of a test CA made at
start (valid for 127.0.0.1, localhost, ::1 and ``--host``); ``--ca-file PATH`` writes that CA's
certificate for clients.  The control API stays plain http.

A GPT-Live session is driven through the same ``/calls/{id}/...`` routes, by its session id
(``live_...``, known once accepted): ``events``, ``function_call`` (through its Responses
delegation), ``hangup`` (``session.closed`` with ``remote_hangup``; abrupt: TCP dropped and the
session ended) and ``send`` reach the session's sideband, not a Realtime call's.
"""

from __future__ import annotations

import json
import math
import sys
from functools import partial
from pathlib import Path
from typing import Any

import trio
from hypercorn.trio import serve
from quart import request
from quart_trio import QuartTrio

from supervisor.http_server import hypercorn_config, install

from ..json_app import create_json_app
from ..testing import (
    PlatformTls,
    SimulatedCall,
    SimulatedLiveSession,
    SimulatedPlatform,
    serve_platform,
)


def create_control_app(platform: SimulatedPlatform) -> QuartTrio:
    app = create_json_app("callvisor.simulate")

    @app.errorhandler(KeyError)
    async def unknown_call(error: KeyError) -> tuple[dict[str, Any], int]:
        return {"error": str(error.args[0]) if error.args else "unknown call"}, 404

    @app.errorhandler(ValueError)
    async def bad_request(error: ValueError) -> tuple[dict[str, Any], int]:
        return {"error": str(error)}, 400

    async def body() -> dict[str, Any]:
        data = await request.get_json(force=True, silent=True)
        return data if isinstance(data, dict) else {}

    def peer(call_id: str) -> SimulatedCall | SimulatedLiveSession:
        """The Live session ``call_id`` names, else its Realtime call (KeyError: 404)."""
        if call_id in platform.live_sessions:
            return platform.live_session(call_id)
        return platform.call(call_id)

    @app.get("/state")
    async def state() -> dict[str, Any]:
        return {
            "base_url": platform.base_url,
            "realtime_url": platform.realtime_url,
            "live_url": platform.live_url,
            "api_key": platform.api_key,
            "calls": {call_id: call.state for call_id, call in platform.calls.items()},
            "open_sidebands": platform.open_sidebands(),
            "pending_scripts": platform.pending_scripts(),
        }

    @app.get("/requests")
    async def requests() -> dict[str, Any]:
        call_id = request.args.get("call_id")
        found = platform.requests_for(call_id) if call_id else platform.requests
        return {
            "requests": [
                {"action": r.action, "call_id": r.call_id, "body": r.body, "at": r.at} for r in found
            ]
        }

    @app.get("/calls/<call_id>/events")
    async def events(call_id: str) -> tuple[dict[str, Any], int]:
        if call_id not in platform.calls:
            return {"error": "unknown call"}, 404
        return {"events": peer(call_id).client_events}, 200

    @app.post("/calls/<call_id>")
    async def expect(call_id: str) -> dict[str, Any]:
        return {"call_id": call_id, "state": platform.expect_call(call_id).state}

    @app.post("/calls/<call_id>/gone")
    async def gone(call_id: str) -> dict[str, Any]:
        platform.gone(call_id)
        return {"ok": True}

    @app.post("/calls/<call_id>/function_call")
    async def function_call(call_id: str) -> tuple[dict[str, Any], int]:
        data = await body()
        with trio.move_on_after(10):
            tool_call_id = await peer(call_id).function_call(
                str(data.get("name", "")), str(data.get("arguments", "{}"))
            )
            return {"tool_call_id": tool_call_id}, 200
        return {"error": "no sideband connected within 10 s"}, 409

    @app.post("/calls/<call_id>/send")
    async def send(call_id: str) -> tuple[dict[str, Any], int]:
        event = await body()
        if not isinstance(event.get("type"), str):
            return {"error": "an event needs a string type"}, 400
        with trio.move_on_after(10):
            await peer(call_id).send(event)
            return {"ok": True}, 200
        return {"error": "no sideband connected within 10 s"}, 409

    @app.post("/calls/<call_id>/hangup")
    async def hangup(call_id: str) -> dict[str, Any]:
        data = await body()
        call = peer(call_id)
        with trio.move_on_after(10):
            await (call.abort(end_call=True) if data.get("abrupt") else call.caller_hangup())
        return {"ok": True}

    @app.post("/fail")
    async def fail() -> dict[str, Any]:
        data = await body()
        platform.fail(
            str(data.get("action")), call_id=data.get("call_id"),
            status=int(data.get("status", 500)), times=int(data.get("times", 1)),
        )
        return {"ok": True, "pending_scripts": platform.pending_scripts()}

    @app.post("/delay")
    async def delay() -> dict[str, Any]:
        data = await body()
        seconds = float(data.get("seconds", -1))
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("seconds must be a number >= 0")
        platform.delay(
            str(data.get("action")), seconds, call_id=data.get("call_id"),
            times=int(data.get("times", 1)),
        )
        return {"ok": True, "pending_scripts": platform.pending_scripts()}

    @app.post("/fail_connect")
    async def fail_connect() -> dict[str, Any]:
        data = await body()
        platform.fail_connect(call_id=data.get("call_id"), times=int(data.get("times", 1)))
        return {"ok": True, "pending_scripts": platform.pending_scripts()}

    @app.post("/settings")
    async def settings() -> dict[str, Any]:
        data = await body()
        if "auto_audio" in data:
            platform.auto_audio = bool(data["auto_audio"])
        if "audio_duration_s" in data:
            platform.audio_duration_s = float(data["audio_duration_s"])
        if "refer_closes_after_s" in data:
            value = data["refer_closes_after_s"]
            platform.refer_closes_after_s = None if value is None else float(value)
        if "reflect_audio" in data:
            platform.reflect_audio = bool(data["reflect_audio"])
        if "audio_frame_ms" in data:
            frame_ms = data["audio_frame_ms"]
            if type(frame_ms) is not int:
                raise ValueError("audio_frame_ms must be an integer >= 1")
            platform.audio_frame_ms = frame_ms  # ValueError (400) below 1
        return {
            "auto_audio": platform.auto_audio,
            "audio_duration_s": platform.audio_duration_s,
            "refer_closes_after_s": platform.refer_closes_after_s,
            "reflect_audio": platform.reflect_audio,
            "audio_frame_ms": platform.audio_frame_ms,
        }

    return app


async def run_simulator(
    *,
    host: str,
    control_port: int,
    api_key: str | None,
    strict_calls: bool,
    tls: bool = False,
    ca_file: Path | None = None,
) -> None:
    """Serve the platform and its control API until cancelled (Ctrl-C).

    With ``tls``, REST and the sideband are served over https/wss with a new test CA's
    certificate, valid for the loopback names and ``host``; ``ca_file`` receives that CA.
    """
    platform_tls = None
    if tls:
        loopback = PlatformTls.LOOPBACK_NAMES
        names = loopback if host in loopback else (*loopback, host)
        platform_tls = PlatformTls(hostnames=names)
        if ca_file is not None:
            platform_tls.write_ca(ca_file)
    platform = SimulatedPlatform(api_key=api_key, tls=platform_tls or False)
    platform.accept_unknown_calls = not strict_calls
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(serve_platform, platform, host=host))
        install()
        config = hypercorn_config(f"{host}:{control_port}", errorlog="callvisor.simulate")
        control = await nursery.start(partial(serve, create_control_app(platform), config))
        print(
            json.dumps(
                {
                    "base_url": platform.base_url,
                    "realtime_url": platform.realtime_url,
                    "live_url": platform.live_url,
                    "control_url": control[0],
                    "api_key": platform.api_key,
                    "ca_file": None if ca_file is None else str(ca_file),
                }
            ),
            flush=True,
            file=sys.stdout,
        )
