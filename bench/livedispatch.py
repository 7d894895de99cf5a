"""callvisor's own cost of one sideband message, timed alone: ``_dispatch`` in ns per frame.

    PYTHONPATH=$PWD python -m bench.livedispatch

In one process, no socket: a GPT-Live call's :class:`actors.live_session.LiveSession` and a
Realtime call's :class:`actors.realtime_session.RealtimeSession` are handed the exact messages
the simulated platform sends (``supervisor.testing._live_shapes``, serialised as its sideband
does), and ``timeit`` runs their ``_dispatch`` on each.  A dispatch of these messages never
awaits, so each call's coroutine is driven by hand (one ``send(None)``, which must finish it)
and the event loop costs nothing; it runs inside ``trio.run`` all the same, since the playback
reads the trio clock.  The cases:

* a Live input frame (``session.input_audio.append``, the caller's 20 ms): dropped on its first
  bytes, counted;
* a Live output frame (``session.output_audio.delta``): not parsed unless a goodbye is awaited,
  and then parsed and decoded (its peak sample) — timed both ways, the second with a real
  ``wait_goodbye`` parked in a task;
* what the prefix compare saves: the same input frame parsed (``actors.sideband.read_event``);
* events that are parsed: a Live transcript delta, and the Realtime event a SIP call's sideband
  carries most often, ``response.output_audio_transcript.delta``.

What a frame costs on the wire before ``_dispatch`` (TLS, websocket framing, trio-websocket's
queue) is not here: ``bench.livecost`` measures the whole of it in a separate process.
"""

from __future__ import annotations

import json
import statistics
import sys
import timeit
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, cast

import trio
import trio.testing

from actors.handle import CallHandle
from actors.live_session import LiveSession
from actors.realtime_session import RealtimeSession
from actors.session import SidebandSession
from actors.sideband import read_event

# The private shapes module on purpose: these are the bytes the simulated platform sends.
from supervisor.testing import _live_shapes as live_shapes

if TYPE_CHECKING:
    from actors.call import CallEnv, CallPlan

FRAME_MS = 20
REPEATS = 7


def frames() -> dict[str, str]:
    """The messages timed, serialised as the simulated sideband sends them (``json.dumps``)."""
    realtime_delta = {
        "type": "response.output_audio_transcript.delta",
        "event_id": "event_0123456789abcdef0123",
        "response_id": "resp_0123456789abcdef0123",
        "item_id": "item_0123456789abcdef0123",
        "output_index": 0,
        "content_index": 0,
        "delta": "Hello, ",
    }
    return {
        "input": json.dumps(live_shapes.input_audio(FRAME_MS)),
        "output": json.dumps(live_shapes.output_audio(0, FRAME_MS)),
        "live_transcript": json.dumps(live_shapes.transcript("Hello, ", 0, FRAME_MS)),
        "realtime_transcript": json.dumps(realtime_delta),
    }


def _sessions() -> tuple[LiveSession, RealtimeSession]:
    # _dispatch reads neither the plan nor the env for these messages (no tool call, no error).
    plan, env = cast("CallPlan", None), cast("CallEnv", None)
    live = LiveSession(CallHandle(call_id="live_bench", received_at=0.0, runtime="live"), plan, env)
    realtime = RealtimeSession(CallHandle(call_id="rtc_bench", received_at=0.0), plan, env)
    return live, realtime


def _driver(session: SidebandSession, message: str, nursery: trio.Nursery) -> Callable[[], None]:
    """One dispatch of ``message``, its coroutine driven by hand (it must not suspend)."""
    dispatch = session._dispatch

    def once() -> None:
        coro: Coroutine[Any, Any, None] = dispatch(message, nursery)
        try:
            coro.send(None)
        except StopIteration:
            return
        coro.close()
        raise RuntimeError("_dispatch suspended: not an in-memory path")

    return once


def _ns_per_call(fn: Callable[[], object]) -> dict[str, Any]:
    """Median and best of ``REPEATS`` timeit runs, ns per call (timeit keeps the GC off)."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    number = max(number, 2000)
    runs = [t / number * 1e9 for t in timer.repeat(repeat=REPEATS, number=number)]
    return {"median_ns": round(statistics.median(runs), 1), "min_ns": round(min(runs), 1), "number": number}


async def _measure() -> dict[str, Any]:
    messages = frames()
    live, realtime = _sessions()
    out: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        out["live_input"] = _ns_per_call(_driver(live, messages["input"], nursery))
        out["live_output"] = _ns_per_call(_driver(live, messages["output"], nursery))
        out["live_transcript"] = _ns_per_call(_driver(live, messages["live_transcript"], nursery))
        out["realtime_transcript"] = _ns_per_call(_driver(realtime, messages["realtime_transcript"], nursery))
        out["parse_input"] = _ns_per_call(lambda: read_event(messages["input"]))
        # A goodbye awaited: the task parks in wait_goodbye and the playback parses every frame.
        nursery.start_soon(live.playback.wait_goodbye, live.playback.mark(), 3600.0)
        await trio.testing.wait_all_tasks_blocked()
        if not live.playback.waiting:
            raise RuntimeError("the goodbye wait did not start")
        out["live_output_waiting"] = _ns_per_call(_driver(live, messages["output"], nursery))
        out["live_input_waiting"] = _ns_per_call(_driver(live, messages["input"], nursery))
        nursery.cancel_scope.cancel()
    out["frame_chars"] = {name: len(message) for name, message in messages.items()}
    out["audio_frames_counted"] = live.call.counters["audio_frames"]
    out["events_counted"] = {"live": live.call.counters["events_received"], "realtime": realtime.call.counters["events_received"]}
    out["frame_ms"] = FRAME_MS
    return out


def measure() -> dict[str, Any]:
    """Every case's ns per message (see the module docstring)."""
    return trio.run(_measure)


def main() -> int:
    print(json.dumps(measure(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
