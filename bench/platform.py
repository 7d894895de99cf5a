"""The benchmarks' simulated OpenAI platform: a process of its own, with bulk controls.

``python -m bench.platform`` serves :class:`supervisor.testing.SimulatedPlatform` (the same
call-control REST API and sideband websocket that ``callvisor simulate`` serves, accepting
unknown call_ids) and adds what a load test needs and the per-call control API lacks:

* a **policy** applied to every call whose sideband attaches: hang it up (close 1000, as a
  caller hanging up) ``hangup_after_s`` later, and/or have the model call a tool every
  ``tool_period_s`` seconds (``tool_name``, first call at a random phase, so the load is spread), measuring
  each **tool round trip** here: function_call events sent → ``function_call_output``
  received;
* counters instead of per-request records (a long run would otherwise keep every request);
* ``POST /hangup_all``, ``GET /summary``, ``POST /window`` + ``GET /window`` (tool round trips
  since the window opened);
* **call-control connections**: the distinct TCP peers (``RecordedRequest.client``, one per
  connection) the REST API saw, in all and in a *connection window* (``POST /conn_window`` +
  ``GET /conn_window``: accepts, requests, connections used and connections first seen since the
  window opened), so that a run can say how many connections a server opens per accept;
* ``POST /tool``: the HTTP endpoint of the bench tenant's ``http`` tool, answered at once;
* GPT-Live sessions get the same hangup policy (``session.closed`` ``remote_hangup``), and the
  Live audio knobs: ``reflect_audio`` (the caller's frames, every ``audio_frame_ms``, from each
  attach on) and ``live_talk`` (the model speaks without a pause from each attach on, so that
  output frames flow at the same rate: with both, 100 frames a second per call at 20 ms).

``--tls --trust-bundle PATH`` serves REST over https and the sideband over wss with a trustme
test CA (``SimulatedPlatform(tls=True)``) and writes PATH: the system CA bundle plus that CA,
what the service and the peer are given as ``SSL_CERT_FILE``.  The control API and the tool
endpoint stay plain http (they are the benchmark's, not OpenAI's).

It prints one JSON line (``base_url``, ``realtime_url``, ``live_url``, ``control_url``, ``tool_url``,
``api_key``, ``tls`` and ``trust_bundle``, null without TLS) and serves until interrupted.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import trio
from hypercorn.trio import serve
from quart import Response, request
from quart_trio import QuartTrio

from bench.stats import summary_ms
from bench.sysinfo import raise_fd_limit
from supervisor.http_server import hypercorn_config, install
from supervisor.json_app import create_json_app, json_response
from supervisor.testing import (
    RecordedRequest,
    SimulatedCall,
    SimulatedLiveSession,
    SimulatedPlatform,
    serve_platform,
)

TOOL_OUTPUT_TIMEOUT_S = 30.0
TOOL_NAME = "lookup_order"
TOOL_ARGUMENTS = '{"order_number": "A-1042"}'
#: ``live_talk``: the model's speech is played in utterances of this length, back to back.
TALK_UTTERANCE_S = 10.0


class ToolWindow:
    """Tool round trips observed since the window opened."""

    def __init__(self) -> None:
        self.round_trips_s: list[float] = []
        self.started = 0
        self.timeouts = 0


class ConnWindow:
    """Call-control requests and connections seen since the window opened."""

    def __init__(self, known: int) -> None:
        self.opened = trio.current_time()
        self.known_before = known
        self.requests = 0
        self.accepts = 0
        self.clients: set[str] = set()
        self.new_clients = 0

    def report(self) -> dict[str, Any]:
        return {
            "seconds": round(trio.current_time() - self.opened, 3),
            "requests": self.requests,
            "accepts": self.accepts,
            "connections_used": len(self.clients),
            "connections_opened": self.new_clients,
            "connections_known_before": self.known_before,
        }


class BenchPlatform(SimulatedPlatform):
    """The simulated platform with counters instead of records, driven through its public hooks."""

    def __init__(self, *, tls: bool = False) -> None:
        super().__init__(tls=tls, record=False)
        self.accept_unknown_calls = True
        self.hangup_after_s: float | None = None
        self.tool_period_s: float | None = None
        self.tool_name = TOOL_NAME
        self.live_talk = False
        self.live_attached_total = 0
        self.requests_by_action: Counter[str] = Counter()
        self.accepted_by_prefix: Counter[str] = Counter()
        self.tool_waiters: dict[str, trio.Event] = {}
        self.window = ToolWindow()
        self.attached_total = 0
        #: Every call-control connection seen (``host:port`` of the peer), and the open window.
        self.rest_clients: set[str] = set()
        self.conn_window: ConnWindow | None = None
        self.on_request(self.count_request)
        self.on_attached(self.attached)
        self.on_client_event(self.client_event)
        self.on_live_attached(self.live_attached)

    def count_request(self, request: RecordedRequest) -> None:
        self.requests_by_action[request.action] += 1
        if request.action == "accept":
            self.accepted_by_prefix[request.call_id.rsplit("_", 1)[0]] += 1
        new = request.client not in self.rest_clients
        if new:
            self.rest_clients.add(request.client)
        window = self.conn_window
        if window is not None:
            window.requests += 1
            window.accepts += request.action == "accept"
            window.clients.add(request.client)
            window.new_clients += new

    def client_event(self, call: SimulatedCall, event: dict[str, Any]) -> None:
        """A tool output the bench is waiting for wakes its waiter; nothing else is kept."""
        item = event.get("item")
        if (
            event.get("type") == "conversation.item.create"
            and isinstance(item, dict)
            and item.get("type") == "function_call_output"
        ):
            waiter = self.tool_waiters.pop(str(item.get("call_id")), None)
            if waiter is not None:
                waiter.set()

    def attached(self, call: SimulatedCall) -> None:
        self.attached_total += 1
        if self.hangup_after_s is not None:
            self.start_soon(partial(self._hang_up_later, call, self.hangup_after_s), name="hangup")
        if self.tool_period_s is not None:
            self.start_soon(partial(self._call_tools, call, self.tool_period_s), name="tools")

    def live_attached(self, session: SimulatedLiveSession) -> None:
        self.live_attached_total += 1
        if self.hangup_after_s is not None:
            self.start_soon(partial(self._hang_up_later, session, self.hangup_after_s), name="hangup")
        if self.live_talk:
            self.start_soon(partial(self._talk, session), name="talk")

    async def _talk(self, session: SimulatedLiveSession) -> None:
        """The model speaks until the session ends: output frames at the frame rate, no pause."""
        while session.state == "accepted" and session.live_connections:
            try:
                await session.play_audio(duration_s=TALK_UTTERANCE_S)
            except Exception:  # the session ended while we were sending
                return

    async def _hang_up_later(self, call: SimulatedCall | SimulatedLiveSession, delay_s: float) -> None:
        await trio.sleep(delay_s)
        if call.state != "ended":
            await call.caller_hangup()

    async def _call_tools(self, call: SimulatedCall, period_s: float) -> None:
        await trio.sleep(random.uniform(0, period_s))
        while call.state == "accepted" and call.live_connections:
            started = trio.current_time()
            done = trio.Event()
            window = self.window
            try:
                tool_call_id = f"call_{call.call_id}_{window.started}"
                self.tool_waiters[tool_call_id] = done
                window.started += 1
                await call.function_call(self.tool_name, TOOL_ARGUMENTS, tool_call_id=tool_call_id)
            except Exception:  # the call ended while we were sending
                self.tool_waiters.pop(tool_call_id, None)
                return
            with trio.move_on_after(TOOL_OUTPUT_TIMEOUT_S) as waited:
                await done.wait()
            if waited.cancelled_caught:
                self.tool_waiters.pop(tool_call_id, None)
                window.timeouts += 1
            else:
                window.round_trips_s.append(trio.current_time() - started)
            await trio.sleep_until(started + period_s)

    async def hangup_all(self) -> int:
        live: list[SimulatedCall | SimulatedLiveSession] = [c for c in self.calls.values() if c.live_connections]
        live += [s for s in self.live_sessions.values() if s.live_connections]
        limiter = trio.CapacityLimiter(200)

        async def one(call: SimulatedCall | SimulatedLiveSession) -> None:
            async with limiter:
                await call.caller_hangup()

        with trio.move_on_after(60):
            async with trio.open_nursery() as nursery:
                for call in live:
                    nursery.start_soon(one, call)
        return len(live)

    def summary(self) -> dict[str, Any]:
        states = Counter(call.state for call in self.calls.values())
        return {
            "calls": dict(states),
            "open_sidebands": self.open_sidebands(),
            "requests": dict(self.requests_by_action),
            "accepted_by_prefix": dict(self.accepted_by_prefix),
            "attached_total": self.attached_total,
            "live_sessions": dict(Counter(session.state for session in self.live_sessions.values())),
            "live_attached_total": self.live_attached_total,
            "handshakes": len(self.handshakes),
            "handshake_statuses": dict(Counter(h.status for h in self.handshakes)),
            "rest_connections": len(self.rest_clients),
            "tls": self.tls is not None,
        }


def create_control_app(platform: BenchPlatform) -> QuartTrio:
    """The bulk control API and the tool endpoint: a JSON app like every other one here."""
    app = create_json_app("bench.platform")
    app.config["MAX_CONTENT_LENGTH"] = None

    async def body() -> dict[str, Any]:
        raw = await request.get_data(cache=False, as_text=False, parse_form_data=False)
        data = json.loads(raw) if raw else {}
        return data if isinstance(data, dict) else {}

    @app.post("/tool")
    async def tool() -> Response:
        data = await body()
        return json_response(200, {"order_number": data.get("order_number"), "status": "shipped"})

    @app.get("/summary")
    async def summary() -> Response:
        return json_response(200, platform.summary())

    @app.post("/policy")
    async def policy() -> Response:
        data = await body()
        if "hangup_after_s" in data:
            platform.hangup_after_s = data["hangup_after_s"]
        if "tool_period_s" in data:
            platform.tool_period_s = data["tool_period_s"]
        if "auto_audio" in data:
            platform.auto_audio = bool(data["auto_audio"])
        if "tool_name" in data:
            platform.tool_name = str(data["tool_name"])
        if "reflect_audio" in data:
            platform.reflect_audio = bool(data["reflect_audio"])
        if "audio_frame_ms" in data:
            platform.audio_frame_ms = int(data["audio_frame_ms"])
        if "live_talk" in data:
            platform.live_talk = bool(data["live_talk"])
        return json_response(200, {
            "hangup_after_s": platform.hangup_after_s, "tool_period_s": platform.tool_period_s,
            "auto_audio": platform.auto_audio, "tool_name": platform.tool_name,
            "reflect_audio": platform.reflect_audio, "audio_frame_ms": platform.audio_frame_ms,
            "live_talk": platform.live_talk,
        })

    @app.post("/hangup_all")
    async def hangup_all() -> Response:
        return json_response(200, {"hung_up": await platform.hangup_all()})

    @app.post("/window")
    async def open_window() -> Response:
        platform.window = ToolWindow()
        return json_response(200, {"ok": True})

    @app.get("/window")
    async def window() -> Response:
        tools = platform.window
        return json_response(200, {
            "started": tools.started, "timeouts": tools.timeouts, "round_trip": summary_ms(tools.round_trips_s),
        })

    @app.post("/conn_window")
    async def open_conn_window() -> Response:
        platform.conn_window = ConnWindow(len(platform.rest_clients))
        return json_response(200, {"ok": True})

    @app.get("/conn_window")
    async def conn_window() -> Response:
        if platform.conn_window is None:
            return json_response(404, {"error": "no_window"})
        return json_response(200, platform.conn_window.report())

    return app


async def run(host: str, trust_bundle: Path | None) -> None:
    raise_fd_limit()
    platform = BenchPlatform(tls=trust_bundle is not None)
    if platform.tls is not None and trust_bundle is not None:
        platform.tls.write_trust_bundle(trust_bundle)
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(serve_platform, platform, host=host))
        install()
        config = hypercorn_config(f"{host}:0", errorlog="bench.platform")
        binds = await nursery.start(partial(serve, create_control_app(platform), config))
        print(
            json.dumps(
                {
                    "base_url": platform.base_url,
                    "realtime_url": platform.realtime_url,
                    "live_url": platform.live_url,
                    "control_url": binds[0],
                    "tool_url": f"{binds[0]}/tool",
                    "api_key": platform.api_key,
                    "tls": platform.tls is not None,
                    "trust_bundle": None if trust_bundle is None else str(trust_bundle),
                }
            ),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.platform")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--tls", action="store_true", help="serve REST over https and the sideband over wss")
    parser.add_argument(
        "--trust-bundle", type=Path, default=None,
        help="with --tls: where to write the system CA bundle plus the test CA (SSL_CERT_FILE for clients)",
    )
    args = parser.parse_args()
    if args.tls and args.trust_bundle is None:
        parser.error("--tls needs --trust-bundle PATH")
    try:
        trio.run(run, args.host, args.trust_bundle.resolve() if args.tls else None)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
