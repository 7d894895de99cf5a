"""What a GPT-Live call costs callvisor's CPU next to a Realtime one, reflected audio included.

    PYTHONPATH=$PWD python -m bench.livecost [--quick] [--out docs]

One ``callvisor serve`` (the production entry point, tenants ``bench`` on Realtime and
``bench-live`` on GPT-Live, the same prompts and tools) against one bench platform
(:mod:`bench.platform`) over TLS, each a process of its own, so that psutil reads callvisor's
CPU alone.  Three measurements, side by side in one run:

1. **Per call**: ``live_calls`` calls placed at ``live_call_rate``/s, each hung up by the platform
   (the caller) one second after its sideband attached: accept, sideband, greeting, hangup,
   teardown.  callvisor's CPU from the first webhook until the platform has no sideband left,
   less its idle rate over that time, over the calls answered; ``reps`` runs of each runtime,
   alternated; medians.
2. **Held calls**: the calls are placed and left up, climbing ``live_levels``; at each level
   callvisor's CPU is read for ``live_window_s`` (median of five equal parts of the window, less
   the idle rate), per call-minute and as the share of one core 1,000 such calls would take.
   ``realtime``: Realtime calls, nothing on their sidebands; ``live_silent``: Live calls with no
   audio; ``live_audio``: Live calls with the caller's frames reflected and the model talking
   without a pause, 100 frames a second per call at 20 ms, ~1,300 characters each.  Whether the
   frames arrived at that rate is read from callvisor itself: the ``audio_frames`` counters of
   ``GET /actors``, before and after the window.  The platform (one trio thread, TLS in Python)
   may not keep that rate at the top levels; the CPU of both processes says which was the limit.
3. **Per frame** (:mod:`bench.livedispatch`): ``_dispatch`` alone, in process, ns per frame.

Results go to ``OUT/benchmarks/live-cost.json`` and the section ``OUT/benchmarks/sections/
live-cost.md``, spliced into ``OUT/benchmarks.md`` (:mod:`bench.sections`); ``make bench`` runs
it as its ``live-cost`` phase.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import livedispatch, procs
from bench import sections as bench_sections
from bench.livedoc import section
from bench.plan import FULL, QUICK, Plan
from bench.report import clean
from bench.stats import spread
from supervisor.testing import new_secret

NUMBERS = {"realtime": procs.BENCH_NUMBER, "live": procs.BENCH_LIVE_NUMBER}
ID_PREFIX = {"realtime": "rtc_", "live": "live_"}
#: The held conditions: runtime, and the platform's Live audio policy.
CONDITIONS = {
    "realtime": ("realtime", {"reflect_audio": False, "live_talk": False}),
    "live_silent": ("live", {"reflect_audio": False, "live_talk": False}),
    "live_audio": ("live", {"reflect_audio": True, "live_talk": True}),
}
FRAME_MS = 20
#: A level keeps the frame rate when callvisor counted at least this share of the nominal one.
KEEPS_RATE = 0.95
SUBWINDOWS = 5
SECTION = "live-cost"


def cpu_s(proc: procs.Proc) -> float:
    """CPU seconds of ``proc``'s threads to the nanosecond (``/proc/PID/task/*/schedstat``), where
    psutil counts 10 ms ticks; psutil's figure when schedstat is not there."""
    total = 0
    try:
        for task in Path(f"/proc/{proc.popen.pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return proc.cpu_s()
    return total / 1e9 if total else proc.cpu_s()


class Rig:
    """The two processes and what the runs need of them."""

    def __init__(self, run_dir: Path) -> None:
        self.secret = new_secret()
        self.platform, urls = procs.start_platform(run_dir, "platform-livecost")
        self.control = urls["control_url"]
        self.trust_bundle_certs = urls.get("trust_bundle_certs")
        tenants = procs.write_tenants(run_dir, urls["tool_url"])
        try:
            self.service, public, self.admin = procs.start_service(run_dir, urls, self.secret, tenants, name="service-livecost")
        except BaseException:
            self.platform.stop()
            raise
        self.port = int(public.rsplit(":", 1)[1])
        self.idle_cores = 0.0

    def stop(self) -> None:
        self.service.stop(30)
        self.platform.stop()

    def policy(self, **policy: Any) -> None:
        procs.post_json(f"{self.control}/policy", policy)

    def place(self, runtime: str, count: int, rate: float, prefix: str) -> dict[str, Any]:
        step = procs.loadgen(
            "steps", "--port", str(self.port), "--secret", self.secret, "--to", NUMBERS[runtime],
            "--runtime", runtime, "--connections", "64", "--rates", str(rate), "--count", str(count),
            "--prefix", prefix, "--no-stop", "--timeout", "30", "--max-lag", "120",
        )["steps"][0]
        return dict(step)

    def open_sidebands(self) -> int:
        return int(procs.get_json(f"{self.control}/summary")["open_sidebands"])

    def idle(self, timeout_s: float = 120.0) -> bool:
        """Hang every call up and wait until callvisor holds none."""
        procs.post_json(f"{self.control}/hangup_all", timeout_s=timeout_s)
        done = procs.wait_until(lambda: self.open_sidebands() == 0, timeout_s)
        done = procs.wait_until(lambda: not procs.get_json(f"{self.admin}/actors")["calls"], 60) and done
        time.sleep(1.0)
        return done

    def actors(self, runtime: str) -> dict[str, tuple[float, int]]:
        """``{call_id: (age_s, audio_frames)}`` of the calls of ``runtime`` held, from ``GET /actors``
        (the ages, taken by callvisor as it answers, time the frames between two of them)."""
        calls = procs.get_json(f"{self.admin}/actors", timeout_s=60)["calls"]
        return {
            str(c["call_id"]): (float(c["age_s"]), int(c["session"].get("audio_frames", 0)))
            for c in calls if str(c["call_id"]).startswith(ID_PREFIX[runtime])
        }

    def measure_idle(self, seconds: float) -> float:
        cpu0, t0 = cpu_s(self.service), time.monotonic()
        time.sleep(seconds)
        return (cpu_s(self.service) - cpu0) / (time.monotonic() - t0)


def per_call(rig: Rig, plan: Plan) -> dict[str, Any]:
    """CPU per call, accept to teardown, for each runtime (reps runs each, alternated)."""
    rig.policy(hangup_after_s=1.0, tool_period_s=None, auto_audio=False, reflect_audio=False, live_talk=False)
    runs: dict[str, list[dict[str, Any]]] = {"realtime": [], "live": []}
    for rep in range(plan.reps):
        for runtime in runs:
            cpu0, t0 = cpu_s(rig.service), time.monotonic()
            platform0 = cpu_s(rig.platform)
            step = rig.place(runtime, plan.live_calls, plan.live_call_rate, f"pc{rep}")  # ids: rtc_pc0_..., live_pc0_...
            procs.wait_until(lambda: rig.open_sidebands() == 0, 60)
            cpu1, t1 = cpu_s(rig.service), time.monotonic()
            answered = step["outcomes"].get("accepted", 0)
            above_idle = max(cpu1 - cpu0 - rig.idle_cores * (t1 - t0), 0.0)
            runs[runtime].append({
                "accepted": answered,
                "outcomes": step["outcomes"],
                "seconds": round(t1 - t0, 2),
                "cpu_s": round(cpu1 - cpu0, 4),
                "cpu_ms_per_call": round(above_idle / max(answered, 1) * 1000, 3),
                "platform_cpu_ms_per_call": round((cpu_s(rig.platform) - platform0) / max(answered, 1) * 1000, 3),
                "webhook_p50_ms": step["round_trip"]["p50_ms"],
            })
            print(f"[live-cost] per call, {runtime} run {rep + 1}: {runs[runtime][-1]['cpu_ms_per_call']} ms", flush=True)
            time.sleep(1.0)
    out: dict[str, Any] = {
        runtime: {"cpu_ms_per_call": spread([r["cpu_ms_per_call"] for r in rs]), "runs": rs}
        for runtime, rs in runs.items()
    }
    realtime_ms, live_ms = out["realtime"]["cpu_ms_per_call"]["median"], out["live"]["cpu_ms_per_call"]["median"]
    out["live_over_realtime"] = round(live_ms / realtime_ms, 3) if realtime_ms else None
    out.update(calls=plan.live_calls, rate_per_s=plan.live_call_rate, hold_s=1.0)
    return out


def _frames_per_call_s(before: dict[str, tuple[float, int]], after: dict[str, tuple[float, int]]) -> float:
    """Frames each call received per second between two ``Rig.actors`` views (calls in both)."""
    rates = [
        (after[call_id][1] - frames) / (after[call_id][0] - age)
        for call_id, (age, frames) in before.items()
        if call_id in after and after[call_id][0] > age
    ]
    return statistics.median(rates) if rates else 0.0


def _level(rig: Rig, condition: str, runtime: str, level: int, window_s: float) -> dict[str, Any]:
    """One window at ``level`` held calls: CPU of both processes, frames counted, memory."""
    before = rig.actors(runtime)
    part = window_s / SUBWINDOWS
    marks = [(time.monotonic(), cpu_s(rig.service), cpu_s(rig.platform))]
    for _ in range(SUBWINDOWS):
        time.sleep(part)
        marks.append((time.monotonic(), cpu_s(rig.service), cpu_s(rig.platform)))
    after = rig.actors(runtime)
    calls = len(after)
    cores = [round((b[1] - a[1]) / (b[0] - a[0]), 4) for a, b in itertools.pairwise(marks)]
    (t0, service0, platform0), (t1, service1, platform1) = marks[0], marks[-1]
    median = max(statistics.median(cores) - rig.idle_cores, 0.0)
    nominal = 2 * 1000 / FRAME_MS if condition == "live_audio" else 0.0
    frames_per_call_s = _frames_per_call_s(before, after)
    return {
        "level": level,
        "calls": calls,
        "open_sidebands": rig.open_sidebands(),
        "window_s": round(t1 - t0, 2),
        "cpu_cores": round(median, 4),
        "cpu_cores_parts": cores,
        "cpu_cores_whole": round((service1 - service0) / (t1 - t0), 4),
        "platform_cpu_cores": round((platform1 - platform0) / (t1 - t0), 4),
        "cpu_s_per_call_minute": round(median / max(calls, 1) * 60, 5),
        "core_pct_per_1000_calls": round(median / max(calls, 1) * 1000 * 100, 2),
        "rss_bytes": rig.service.rss(),
        "frames_per_call_s": round(frames_per_call_s, 2),
        "nominal_frames_per_call_s": nominal,
        "keeps_rate": (frames_per_call_s >= KEEPS_RATE * nominal) if nominal else None,
    }


def held(rig: Rig, plan: Plan) -> dict[str, Any]:
    """Each condition climbing ``live_levels``; every call hung up between conditions."""
    out: dict[str, Any] = {}
    for condition, (runtime, audio) in CONDITIONS.items():
        rss_idle = rig.service.rss()  # after the last condition's calls ended
        rig.policy(hangup_after_s=None, tool_period_s=None, auto_audio=False, **audio)
        levels: list[dict[str, Any]] = []
        placed, stopped = 0, ""
        for level in plan.live_audio_levels if condition == "live_audio" else plan.live_levels:
            print(f"[live-cost] {condition}: placing up to {level} calls", flush=True)
            step = rig.place(runtime, level - placed, plan.live_place_rate, f"{condition.replace('_', '')}{level}")
            placed = level
            if not procs.wait_until(lambda n=level: rig.open_sidebands() >= n, 120, interval_s=1.0):
                outcomes = ", ".join(f"{k} {v}" for k, v in step["outcomes"].items())
                stopped = f"{rig.open_sidebands()} sidebands open of {level} after 120 s (webhooks answered: {outcomes})"
                print(f"[live-cost]   {stopped}; no higher level", flush=True)
                break
            time.sleep(3.0)
            entry = _level(rig, condition, runtime, level, plan.live_window_s)
            entry["rss_per_call_kib"] = round((entry["rss_bytes"] - rss_idle) / max(entry["calls"], 1) / 1024, 2)
            entry["placement_outcomes"] = step["outcomes"]
            levels.append(entry)
            print(
                f"[live-cost]   {entry['calls']} calls: {entry['cpu_cores']} cores "
                f"({entry['core_pct_per_1000_calls']}% of a core per 1,000), platform {entry['platform_cpu_cores']} cores, "
                f"{entry['frames_per_call_s']} frames/s per call",
                flush=True,
            )
        out[condition] = {"levels": levels, "stopped": stopped, "all_ended_after": rig.idle()}
    out["extrapolated"] = extrapolate(out, max(plan.live_levels))
    return out


def extrapolate(conditions: dict[str, Any], top: int) -> dict[str, Any] | None:
    """Reflected audio's cost per frame, from the largest level that kept the frame rate (the
    audio run less the silent one at that level), and what ``top`` calls would cost with it."""
    silent = {lv["level"]: lv for lv in conditions["live_silent"]["levels"]}
    kept = [lv for lv in conditions["live_audio"]["levels"] if lv["keeps_rate"]]
    if not kept or not silent:
        return None
    best = max(kept, key=lambda lv: lv["level"])
    # The silent calls' own cost, per call, from the silent level nearest to it.
    base = silent[min(silent, key=lambda level: abs(level - best["level"]))]
    frames_per_s = best["frames_per_call_s"] * best["calls"]
    per_frame_s = max(best["cpu_cores"] - base["cpu_cores"] * best["calls"] / max(base["calls"], 1), 0.0) / frames_per_s
    top_silent = silent.get(top) or base
    silent_per_call = top_silent["cpu_cores"] / max(top_silent["calls"], 1)
    nominal = best["nominal_frames_per_call_s"]
    per_call_cores = silent_per_call + per_frame_s * nominal
    return {
        "from_level": best["level"],
        "from_calls": best["calls"],
        "silent_level": top_silent["level"],
        "us_per_frame": round(per_frame_s * 1e6, 2),
        "calls": top,
        "cores": round(per_call_cores * top, 3),
        "cpu_s_per_call_minute": round(per_call_cores * 60, 5),
        "core_pct_per_1000_calls": round(per_call_cores * 1000 * 100, 2),
        "audio_share": round(per_frame_s * nominal / per_call_cores, 3) if per_call_cores else None,
    }


def run(run_dir: Path, plan: Plan) -> dict[str, Any]:
    """Every measurement of the module docstring; the processes are stopped at the end."""
    result: dict[str, Any] = {"plan": plan.name, "tls": True, "frame_ms": FRAME_MS}
    result["background_busy_cores"] = procs.background_cores()
    print("[live-cost] per-frame dispatch, in process", flush=True)
    result["dispatch"] = livedispatch.measure()
    rig = Rig(run_dir)
    try:
        result["trust_bundle_certs"] = rig.trust_bundle_certs
        print("[live-cost] warm-up", flush=True)
        rig.policy(hangup_after_s=1.0, auto_audio=False)
        for runtime in NUMBERS:
            rig.place(runtime, 20, 20.0, "warm")
        procs.wait_until(lambda: rig.open_sidebands() == 0, 60)
        time.sleep(2.0)
        rig.idle_cores = round(rig.measure_idle(5.0), 4)
        result["idle_cores"] = rig.idle_cores
        with procs.MachineWatch() as watch:
            started = time.monotonic()
            result["per_call"] = per_call(rig, plan)
            between = time.monotonic()
            result["held"] = held(rig, plan)
            result["foreign_load"] = {
                "per_call": watch.foreign(started, between), "held": watch.foreign(between, time.monotonic()),
            }
        result["failures"] = procs.failures(rig.service, peer=False)
        result["platform_summary"] = procs.get_json(f"{rig.control}/summary")
    finally:
        rig.stop()
    return result


def write_section(result: dict[str, Any], out: Path) -> list[Path]:
    """``OUT/benchmarks/live-cost.json`` and the section file (what ``make bench`` renders)."""
    folder = out / "benchmarks"
    (out / bench_sections.FOLDER).mkdir(parents=True, exist_ok=True)
    data = clean(result)
    json_path = folder / "live-cost.json"
    json_path.write_text(json.dumps(data, indent=1) + "\n")
    section_path = out / bench_sections.FOLDER / f"{SECTION}.md"
    section_path.write_text("\n".join(section(data)).strip() + "\n")
    return [json_path, section_path]


def write(result: dict[str, Any], out: Path) -> list[Path]:
    """The JSON, the section, and the page with the section spliced in."""
    written = write_section(result, out)
    page = out / bench_sections.PAGE
    if page.exists():
        page.write_text(bench_sections.splice(page.read_text(), bench_sections.read(out)))
        written.append(page)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.livecost", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small loads (100 held calls at most): a few minutes")
    parser.add_argument("--out", type=Path, default=procs.ROOT / "docs", help="folder of benchmarks.md (default docs/)")
    parser.add_argument("--render", action="store_true", help="only rewrite the section from the saved live-cost.json")
    args = parser.parse_args(argv)
    if args.render:
        saved = json.loads((args.out / "benchmarks" / "live-cost.json").read_text())
        print(json.dumps({"written": [str(p) for p in write(saved, args.out)]}))
        return 0
    from bench.sysinfo import machine, raise_fd_limit

    raise_fd_limit()
    run_dir = Path(tempfile.mkdtemp(prefix="callvisor-livecost-"))
    print(f"live-cost: process logs in {run_dir}", flush=True)
    started = time.monotonic()
    result = run(run_dir, QUICK if args.quick else FULL)
    result["machine"] = machine()
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps({"written": [str(p) for p in write(result, args.out)], "seconds": result["seconds"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
