"""The GPT-Live cost section of docs/benchmarks.md, from ``bench.livecost``'s results.

Written to ``docs/benchmarks/sections/live-cost.md`` and carried by the page as it is
(:mod:`bench.sections`).  Every figure comes from the results; what is extrapolated says so.
"""

from __future__ import annotations

import math
from typing import Any

CONDITION_NAMES = {
    "realtime": "Realtime, nothing on the sideband",
    "live_silent": "GPT-Live, no audio",
    "live_audio": "GPT-Live, reflected audio both ways",
}
DISPATCH_ROWS = (
    ("live_input", "GPT-Live `session.input_audio.append` (caller, 20 ms): dropped on its prefix"),
    ("live_output", "GPT-Live `session.output_audio.delta` (model, 20 ms), no goodbye awaited"),
    ("live_output_waiting", "the same output frame while a goodbye is awaited: read off its text, its peak found"),
    ("live_input_waiting", "the input frame while a goodbye is awaited"),
    ("parse_input", "the input frame parsed (`actors.sideband.read_event`): what the prefix saves"),
    ("live_transcript", "GPT-Live `session.output_transcript.delta` (an event that is parsed)"),
    ("realtime_transcript", "Realtime `response.output_audio_transcript.delta`"),
)
#: A process this busy (cores) was the limit of a level that did not keep the frame rate.
SATURATED = 0.9


def num(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def section(r: dict[str, Any]) -> list[str]:
    m = r.get("machine") or {}
    out = [
        "## GPT-Live beside Realtime: CPU per call, per call-minute and per reflected frame",
        "",
        "<!-- Written by `python -m bench.livecost` (make bench: its live-cost phase); edit bench/livedoc.py. -->",
        "",
        f"Measured {m.get('date')} by `python -m bench.livecost` ({r.get('plan')} run, {num(r.get('seconds'), 0)} s) on "
        f"{m.get('cpu_model')}, {m.get('cores')} cores (issue 12). One `callvisor serve` holds a Realtime tenant and a "
        "GPT-Live one (`bench`, `bench-live`: the same prompts and tools) against the bench platform (`bench/platform.py`), "
        "over TLS as in production (https call control, wss sidebands, the test CA through `SSL_CERT_FILE`). Each is a "
        "process of its own, so callvisor's CPU is its own, read from `/proc/PID/task/*/schedstat`, less its idle rate "
        f"({num(r.get('idle_cores'), 4)} cores with no call).",
        "",
    ]
    out += _foreign(r)
    out += _per_call(r.get("per_call") or {})
    out += _held(r.get("held") or {}, r.get("foreign_load") or {})
    out += _failures(r.get("failures") or {})
    out += _dispatch(r.get("dispatch") or {}, r.get("held") or {})
    return out


def _foreign(r: dict[str, Any]) -> list[str]:
    load = r.get("foreign_load") or {}
    busy = {k: v for k, v in load.items() if v.get("mean_cores", 0) > 0.1}
    if not busy:
        return []
    parts = ", ".join(f"{k} {num(v['mean_cores'], 2)} (peak {num(v['max_cores'], 2)})" for k, v in busy.items())
    return [
        f"**The machine was shared**: other processes kept cores busy during the run (mean, per part: {parts}; "
        f"before it: {num(r.get('background_busy_cores'), 2)}). CPU seconds are each process's own and hold; rates that "
        "need the whole machine (the frame rate at the top levels) may be lower than on a quiet one.",
        "",
    ]


def _per_call(pc: dict[str, Any]) -> list[str]:
    if not pc:
        return ["### Per call", "", "Not run.", ""]
    out = [
        "### Per call: accept, greeting, hangup",
        "",
        f"{pc['calls']} calls per run at {num(pc['rate_per_s'], 0)}/s, each hung up by the caller {num(pc['hold_s'], 0)} s "
        "after its sideband attached: webhook, decision, accept (REST), sideband (wss), greeting (Realtime "
        "`response.create`; GPT-Live `session.commentary.append`), caller hangup (Realtime: close 1000; GPT-Live: "
        "`session.closed` `remote_hangup`, then the TCP drop), teardown; no audio. callvisor's CPU from the first webhook "
        "until the platform had no sideband left, over the calls accepted; runs of the two runtimes alternated.",
        "",
        "| runtime | CPU ms per call, median (min to max) | runs | accepted per run | platform CPU ms per call |",
        "|---|---:|---:|---:|---:|",
    ]
    for runtime, label in (("realtime", "Realtime"), ("live", "GPT-Live")):
        row = pc[runtime]
        cpu = row["cpu_ms_per_call"]
        platform = sorted(run["platform_cpu_ms_per_call"] for run in row["runs"])
        out.append(
            f"| {label} | **{num(cpu['median'], 2)}** ({num(cpu['min'], 2)} to {num(cpu['max'], 2)}) | {len(row['runs'])} | "
            f"{', '.join(str(run['accepted']) for run in row['runs'])} | {num(platform[len(platform) // 2], 2)} |"
        )
    out += ["", f"GPT-Live over Realtime, per call: **{num(pc.get('live_over_realtime'), 2)}x**.", ""]
    return out


def _held(held: dict[str, Any], foreign: dict[str, Any]) -> list[str]:
    if not held:
        return ["### Held calls", "", "Not run.", ""]
    out = [
        "### Held calls: CPU per call-minute",
        "",
        "The calls are placed and left up, level after level; at each, callvisor's CPU over the window (the median of "
        "its five parts, less the idle rate) per call-minute, and as the share of one core that 1,000 such calls "
        "take. Reflected audio is the caller's frames (`session.input_audio.append`) and the model speaking without a "
        "pause (`session.output_audio.delta`), 20 ms frames of base64 PCM16 at 24 kHz (about 1,300 characters): "
        "100 frames a second per call, as when both sides speak all the time: the most a call carries (the caller's "
        "frames come whether anyone speaks or not, so a real call carries at least half of it). The frames received are "
        "callvisor's own count (`audio_frames` in `GET /actors`, before and after the window, timed by the calls' "
        "`age_s`).",
        "",
        "| runtime and audio | calls held | callvisor cores above idle (all) | CPU s per call-minute | "
        "% of one core per 1,000 calls | frames/s per call received (sent) | µs per frame received | platform cores |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for condition, label in CONDITION_NAMES.items():
        for lv in (held.get(condition) or {}).get("levels", []):
            frames = (
                f"{num(lv['frames_per_call_s'], 1)} ({num(lv['nominal_frames_per_call_s'], 0)})"
                if lv["nominal_frames_per_call_s"] else "0"
            )
            out.append(
                f"| {label} | {lv['calls']:,} | {num(lv['cpu_cores'], 3)} ({num(lv['cpu_cores_whole'], 3)}) | "
                f"{num(lv['cpu_s_per_call_minute'], 4)} | "
                f"{num(lv['core_pct_per_1000_calls'], 1)} | {frames} | {num(_us_per_frame(lv), 1) if lv['nominal_frames_per_call_s'] else ''} | "
                f"{num(lv['platform_cpu_cores'], 2)} |"
            )
    out.append("")
    out += _ratios(held)
    out += _frame_rate(held, foreign)
    out += _extrapolated(held)
    for condition in CONDITION_NAMES:
        stopped = (held.get(condition) or {}).get("stopped")
        if stopped:
            out += [f"{CONDITION_NAMES[condition]}: the climb stopped: {stopped}.", ""]
    return out


def _us_per_frame(lv: dict[str, Any]) -> float:
    """callvisor's CPU above idle over the frames it received, in µs (a silent call costs ~0)."""
    frames_per_s = lv["frames_per_call_s"] * lv["calls"]
    return lv["cpu_cores"] / frames_per_s * 1e6 if frames_per_s else math.nan


def _failures(failures: dict[str, int]) -> list[str]:
    if not failures:
        return ["No call failed in the run (callvisor's log).", ""]
    text = f"Calls that failed in the run (callvisor's log): {', '.join(f'`{k}` {v:,}' for k, v in failures.items())}."
    if "call_session_start_failed:timeout" in failures:
        text += (
            " Those were GPT-Live calls placed while the audio of the calls already up kept callvisor's one thread busy: "
            "their attach did not come up within `CALL_SESSION_START_TIMEOUT_S` (10 s), and they were hung up "
            "(`session_start_failed`). Past one core of reflected audio, a process does not only fall behind on frames: "
            "it fails new calls."
        )
    return [text, ""]


def _top(held: dict[str, Any], condition: str) -> dict[str, Any] | None:
    levels = (held.get(condition) or {}).get("levels") or []
    return max(levels, key=lambda lv: lv["calls"]) if levels else None


def _ratios(held: dict[str, Any]) -> list[str]:
    realtime, silent = _top(held, "realtime"), _top(held, "live_silent")
    if not realtime or not silent:
        return []
    text = (
        f"Held without audio, at {silent['calls']:,} GPT-Live and {realtime['calls']:,} Realtime calls: "
        f"{num(silent['core_pct_per_1000_calls'], 1)}% against {num(realtime['core_pct_per_1000_calls'], 1)}% of one core "
        "per 1,000 calls above idle"
    )
    if realtime["cpu_s_per_call_minute"] and silent["cpu_s_per_call_minute"]:
        text += f" (GPT-Live over Realtime: **{num(silent['cpu_s_per_call_minute'] / realtime['cpu_s_per_call_minute'], 2)}x**)"
    else:
        low = {c: min((held[c]["levels"]), key=lambda lv: lv["calls"]) for c in ("realtime", "live_silent")}
        noise = max(max(lv["cpu_cores_parts"]) - min(lv["cpu_cores_parts"]) for c in low for lv in held[c]["levels"])
        text += (
            f": no ratio, both are inside the noise. The process used {num(low['realtime']['cpu_cores_whole'], 4)} cores "
            f"with {low['realtime']['calls']:,} Realtime calls and {num(realtime['cpu_cores_whole'], 4)} with "
            f"{realtime['calls']:,}; {num(low['live_silent']['cpu_cores_whole'], 4)} and {num(silent['cpu_cores_whole'], 4)} "
            f"for GPT-Live, with parts of a window {num(noise, 4)} cores apart at most: a held call without audio costs "
            f"under about {num(noise / silent['calls'] * 1000 * 100, 2)}% of one core per 1,000 calls on either runtime"
        )
    return [
        text + ". Nothing arrives on such a sideband: its reader task stays parked on the socket.",
        "",
    ]


def _limit(lv: dict[str, Any], foreign_cores: float) -> str:
    service, platform = lv["cpu_cores"], lv["platform_cpu_cores"]
    if platform >= SATURATED and service >= SATURATED:
        return f"both one-thread processes were saturated, callvisor at {num(service, 2)} cores and the platform at {num(platform, 2)}"
    if platform >= SATURATED:
        return f"the platform's one thread was saturated ({num(platform, 2)} cores)"
    if service >= SATURATED:
        return f"callvisor's one thread was saturated ({num(service, 2)} cores)"
    return (
        f"the two cores were taken: callvisor {num(service, 2)}, the platform {num(platform, 2)}, other work "
        f"{num(foreign_cores, 2)} on average"
    )


def _frame_rate(held: dict[str, Any], foreign: dict[str, Any]) -> list[str]:
    levels = (held.get("live_audio") or {}).get("levels") or []
    if not levels:
        return []
    kept = [lv for lv in levels if lv["keeps_rate"]]
    missed = [lv for lv in levels if not lv["keeps_rate"]]
    foreign_cores = float((foreign.get("held") or {}).get("mean_cores", 0.0))
    text = "**Does the platform keep the frame rate?** "
    if kept:
        best = max(kept, key=lambda lv: lv["calls"])
        text += (
            f"Up to {best['calls']:,} calls, yes: callvisor counted {num(best['frames_per_call_s'], 1)} frames a second per "
            f"call of the {num(best['nominal_frames_per_call_s'], 0)} sent. "
        )
    if missed:
        first = min(missed, key=lambda lv: lv["calls"])
        top = max(missed, key=lambda lv: lv["calls"])
        text += (
            f"From {first['calls']:,} calls on, no: {num(first['frames_per_call_s'], 1)} frames a second per call there "
            f"(limit: {_limit(first, foreign_cores)})"
        )
        if top is not first:
            text += f", {num(top['frames_per_call_s'], 1)} at {top['calls']:,} calls ({_limit(top, foreign_cores)})"
        text += (
            ". Sending 100 frames a second for each of 1,000 calls (100,000 TLS websocket "
            "messages a second) is beyond one Python process, and receiving them is beyond callvisor's one "
            "thread too (below), so the 1,000-call figure is extrapolated from the levels that kept the rate."
        )
    elif kept:
        text += "Every level kept it."
    return [text, ""]


def _extrapolated(held: dict[str, Any]) -> list[str]:
    ex = held.get("extrapolated")
    if not ex:
        return ["No audio level kept the frame rate: nothing is extrapolated.", ""]
    realtime = _top(held, "realtime")
    out = [
        f"**Extrapolated to {ex['calls']:,} calls, not measured.** At {ex['from_calls']:,} calls with audio (the largest "
        f"level that kept the rate), less the silent calls' own cost, each reflected frame cost callvisor "
        f"**{num(ex['us_per_frame'], 1)} µs** end to end. With the silent GPT-Live call's cost at {ex['silent_level']:,} calls, "
        f"{ex['calls']:,} GPT-Live calls with 100 frames a second each would take **{num(ex['cores'], 2)} cores** of "
        f"callvisor alone: **{num(ex['core_pct_per_1000_calls'], 0)}% of one core per 1,000 calls**, "
        f"{num(ex['cpu_s_per_call_minute'], 3)} CPU s per call-minute",
    ]
    if realtime and realtime["cpu_s_per_call_minute"]:
        out[-1] += (
            f", against Realtime's {num(realtime['core_pct_per_1000_calls'], 1)}% "
            f"({num(ex['cpu_s_per_call_minute'] / realtime['cpu_s_per_call_minute'], 0)}x)"
        )
    out[-1] += (
        f"; the audio is {num((ex.get('audio_share') or 0) * 100, 1)}% of it. callvisor runs on one thread, so one process "
        f"holds about {num(100 / max(ex['core_pct_per_1000_calls'], 1e-9) * 1000, 0)} such calls at most (one core), "
        "whatever `MAX_CONCURRENT_CALLS` says."
    )
    audio = [lv for lv in (held.get("live_audio") or {}).get("levels", []) if lv["frames_per_call_s"]]
    if len(audio) > 1:
        cheapest, dearest = min(audio, key=_us_per_frame), max(audio, key=_us_per_frame)
        low_cores = (ex["cores"] / ex["calls"] - ex["us_per_frame"] / 1e6 * 100 + _us_per_frame(cheapest) / 1e6 * 100) * ex["calls"]
        out[-1] += (
            f" Across the audio levels a frame cost from {num(_us_per_frame(cheapest), 1)} µs ({cheapest['calls']:,} calls) "
            f"to {num(_us_per_frame(dearest), 1)} µs ({dearest['calls']:,} calls; the fewer frames a wakeup of the event "
            f"loop finds, the dearer each); at the lowest, the same {ex['calls']:,} calls would take {num(low_cores, 2)} cores"
            + (": either way more than the one core a process has." if low_cores > 1 else ".")
        )
    out[-1] += (
        " How often OpenAI's sideband really sends frames is not documented (the reference "
        "infers the bytes, about 64 KB/s of base64 per direction, not the frame length): most of a frame's cost is "
        "per message, so fewer, longer frames would cost less, roughly in proportion to their number (not measured here)."
    )
    return [*out, ""]


def _dispatch(d: dict[str, Any], held: dict[str, Any]) -> list[str]:
    if not d:
        return []
    chars = d.get("frame_chars") or {}
    char_of = {
        "live_input": chars.get("input"), "live_output": chars.get("output"), "live_output_waiting": chars.get("output"),
        "live_input_waiting": chars.get("input"), "parse_input": chars.get("input"),
        "live_transcript": chars.get("live_transcript"), "realtime_transcript": chars.get("realtime_transcript"),
    }
    out = [
        "### Per frame: callvisor's own dispatch, in process",
        "",
        "`LiveSession._dispatch` and `RealtimeSession._dispatch` (`bench/livedispatch.py`) on the messages the "
        "simulated platform sends (`supervisor/testing/_live_shapes.py`), timed with `timeit` in one process, no "
        "socket: the coroutine is driven by hand, since these dispatches never wait.",
        "",
        "| message | characters | ns per message, median of 7 (best) |",
        "|---|---:|---:|",
    ]
    for key, label in DISPATCH_ROWS:
        row = d.get(key)
        if row:
            out.append(f"| {label} | {num(char_of.get(key), 0)} | {num(row['median_ns'], 0)} ({num(row['min_ns'], 0)}) |")
    out.append("")
    ex = held.get("extrapolated") or {}
    live_input, realtime = d.get("live_input"), d.get("realtime_transcript")
    if live_input and realtime:
        text = (
            f"A dropped caller frame costs callvisor's own code {num(live_input['median_ns'], 0)} ns, "
            f"{num(realtime['median_ns'] / live_input['median_ns'], 0)}x less than the Realtime event it is compared with"
        )
        if ex.get("us_per_frame"):
            share = live_input["median_ns"] / 1000 / ex["us_per_frame"] * 100
            text += (
                f", and {num(share, 1)}% of the {num(ex['us_per_frame'], 1)} µs the frame costs end to end (above). The rest "
                "is the way in, outside actors/: the TLS record, websocket framing (wsproto), UTF-8 decoding, "
                "trio-websocket's reader task and its message channel, and trio's scheduling of two tasks per message"
            )
        out += [text + ".", ""]
    waiting, output = d.get("live_output_waiting"), d.get("live_output")
    parse = d.get("parse_input")
    if waiting and output and parse:
        out += [
            f"While a goodbye is awaited (`end_call`, `transfer_call`: until the model's audio stops, a few seconds), each "
            f"output frame costs {num(waiting['median_ns'] / 1000, 1)} µs instead of {num(output['median_ns'] / 1000, 1)}: "
            "its fields are read off its text by regular expressions (`actors.live_playback.audio_frame`, no JSON "
            "parse: the bounded parse of such a frame, `read_event`, takes "
            f"{num(parse['median_ns'] / 1000, 1)} µs alone), its base64 decoded, and its peak taken over one sample "
            "in eight (`actors.live_playback.peak`). Bounded to the goodbye, so small.",
            "",
        ]
    return out
