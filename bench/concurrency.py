"""Benchmark 2: many concurrent live calls in one process (callvisor, then the peer).

Calls are placed through the webhook at a moderate rate and then stay up: each holds its
sideband websocket to the platform, and the platform has the model call the bench tenant's
``lookup_order`` tool on every call once per ``tool_period_s`` (at a random phase), answered by
the service and timed on the platform side.  At each level the server's RSS above its
baseline (measured after a warm-up, before any call) is divided by the number of calls; its CPU
time over the window is divided by calls and minutes; callvisor's event-loop lag comes from its
``callvisor_event_loop_lag_seconds`` histogram (difference of two scrapes, so only the window
counts; the quantile is interpolated inside Prometheus buckets).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from bench import procs
from bench.plan import Plan
from bench.stats import bucket_bounds, histogram_delta, histogram_quantile, parse_histogram
from supervisor.testing import new_secret

LAG = "callvisor_event_loop_lag_seconds"
GC = "callvisor_gc_pause_seconds"


def _capacity_in_use(admin: str) -> float:
    try:
        text = procs.get_text(f"{admin}/metrics", timeout_s=10)
    except Exception:
        return float("nan")
    for line in text.splitlines():
        if line.startswith('callvisor_capacity_in_use{scope="global"}'):
            return float(line.rsplit(" ", 1)[1])
    return float("nan")


def _live(control: str) -> int:
    return int(procs.get_json(f"{control}/summary")["open_sidebands"])


def _lag(admin: str) -> dict[float, float]:
    """The loop-lag histogram's cumulative buckets now ({} without an operator port or answer)."""
    if not admin:
        return {}
    try:
        return parse_histogram(procs.get_text(f"{admin}/metrics", timeout_s=15), LAG)
    except Exception:
        return {}


def _gc(admin: str) -> dict[str, dict[str, float]]:
    """``{generation: {"count", "seconds", "max_bucket_s"}}`` of the collector's pauses so far."""
    if not admin:
        return {}
    try:
        text = procs.get_text(f"{admin}/metrics", timeout_s=15)
    except Exception:
        return {}
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        for suffix, key in (("_count", "count"), ("_sum", "seconds")):
            prefix = f'{GC}{suffix}{{generation="'
            if line.startswith(prefix):
                generation = line[len(prefix):].split('"', 1)[0]
                out.setdefault(generation, {})[key] = float(line.rsplit(" ", 1)[1])
    return out


def _gc_delta(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return {
        generation: {
            key: round(value - before.get(generation, {}).get(key, 0.0), 4) for key, value in now.items()
        }
        for generation, now in sorted(after.items())
    }


def _responsive(admin: str) -> bool:
    try:
        procs.get_text(f"{admin}/ready", timeout_s=10)
    except Exception:
        return False
    return True


def _reached(control: str, level: int) -> bool:
    return _live(control) >= level


def _rss_now(proc: procs.Proc, seconds: float = 2.0) -> int:
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(proc.rss())
        time.sleep(0.25)
    return int(statistics.median(samples))


def _place(port: int, secret: str, path: str, count: int, rate: float, prefix: str) -> dict[str, Any]:
    step = procs.loadgen(
        "steps", "--port", str(port), "--secret", secret, "--to", procs.BENCH_NUMBER,
        "--webhook-path", path, "--connections", "64", "--rates", str(rate), "--count", str(count),
        "--prefix", prefix, "--no-stop", "--timeout", "30", "--max-lag", "120",
    )["steps"][0]
    return dict(step)


#: The tool the platform's model calls: the bench tenant's http tool, or one it does not have
#: (callvisor then answers ``tool_not_found`` at once: the same sideband round trip, no HTTP).
TOOLS = {"http": "lookup_order", "httpless": "check_opening_hours"}


def _stack(pid: int) -> list[str]:
    """The main thread's stack (py-spy), to say where a process that stopped answering is stuck."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    try:
        dump = subprocess.run([spy, "dump", "--pid", str(pid)], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in dump.stdout.decode(errors="replace").splitlines()[3:15]]


def run(run_dir: Path, plan: Plan, *, peer: bool, place_rate: float, tool: str = "http") -> dict[str, Any]:
    secret = new_secret()
    name = "peer" if peer else ("callvisor" if tool == "http" else "callvisor-httpless")
    levels = plan.peer_levels if peer else (plan.levels if tool == "httpless" else plan.http_tool_levels)
    platform, urls = procs.start_platform(run_dir, f"platform-concurrency-{name}")
    control = urls["control_url"]
    admin = ""
    try:
        procs.post_json(f"{control}/policy", {"hangup_after_s": None, "tool_period_s": None, "auto_audio": False})
        if peer:
            proc, port = procs.start_peer(run_dir, urls, secret, "peer-concurrency")
            path = "/openai/webhook"
        else:
            tenants = procs.write_tenants(run_dir, urls["tool_url"])
            proc, public, admin = procs.start_service(run_dir, urls, secret, tenants, name=f"service-concurrency-{tool}")
            port, path = int(public.rsplit(":", 1)[1]), "/webhooks/openai"
        stopped = ""
        try:
            print(f"[concurrency:{name}] warm-up and baseline", flush=True)
            _place(port, secret, path, 20, 20.0, "warm")
            time.sleep(1.0)
            procs.post_json(f"{control}/hangup_all")
            procs.wait_until(lambda: procs.get_json(f"{control}/summary")["open_sidebands"] == 0, 30)
            time.sleep(2.0)
            baseline = _rss_now(proc)
            baseline_fds = proc.ps.num_fds()
            procs.post_json(f"{control}/policy", {"tool_period_s": plan.tool_period_s, "tool_name": TOOLS[tool]})
            results: list[dict[str, Any]] = []
            stuck_stack: list[str] = []
            placed = 0
            for level in levels:
                print(f"[concurrency:{name}] placing calls up to {level} at {place_rate:g}/s", flush=True)
                started = time.monotonic()
                placement = _place(port, secret, path, level - placed, place_rate, f"cc{level}")
                placed = level
                procs.wait_until(partial(_reached, control, level), 60, interval_s=1.0)
                place_s = time.monotonic() - started
                if admin and not _responsive(admin):
                    stopped = f"the service stopped answering its operator port at {_live(control):,} calls"
                    stuck_stack = _stack(proc.popen.pid)
                    print(f"[concurrency:{name}]   {stopped}; no higher level", flush=True)
                    break
                time.sleep(3.0)
                procs.post_json(f"{control}/window")
                lag_before = _lag(admin)
                gc_before = _gc(admin)
                cpu0, t0 = proc.cpu_s(), time.monotonic()
                rss_samples = []
                while time.monotonic() - t0 < plan.measure_s:
                    rss_samples.append(proc.rss())
                    time.sleep(1.0)
                cpu1, t1 = proc.cpu_s(), time.monotonic()
                window = procs.get_json(f"{control}/window")
                open_now = _live(control)
                entry: dict[str, Any] = {
                    "level": level,
                    "live_sidebands": open_now,
                    "placement": {
                        "seconds": round(place_s, 1),
                        "outcomes": placement["outcomes"],
                        "round_trip": placement["round_trip"],
                    },
                    "rss_bytes": int(statistics.median(rss_samples)),
                    "rss_per_call_kib": round((statistics.median(rss_samples) - baseline) / max(open_now, 1) / 1024, 2),
                    "cpu_cores": round((cpu1 - cpu0) / (t1 - t0), 4),
                    "cpu_ms_per_call_minute": round((cpu1 - cpu0) / (t1 - t0) / max(open_now, 1) * 60_000, 4),
                    "fds": proc.ps.num_fds(),
                    "tool": window,
                }
                if admin:
                    delta = histogram_delta(lag_before, _lag(admin))
                    entry["loop_lag"] = {
                        "observations": delta.get(float("inf"), 0.0),
                        "p99_ms": round(histogram_quantile(delta, 0.99) * 1000, 3),
                        "p50_ms": round(histogram_quantile(delta, 0.50) * 1000, 3),
                        "p99_bucket_ms": [round(b * 1000, 3) for b in bucket_bounds(delta, 0.99)],
                        "buckets": {str(k): v for k, v in delta.items()},
                    }
                    entry["gc_pauses"] = _gc_delta(gc_before, _gc(admin))
                    entry["capacity_in_use"] = _capacity_in_use(admin)
                results.append(entry)
                print(
                    f"[concurrency:{name}]   {open_now} calls: {entry['rss_per_call_kib']} KiB/call, "
                    f"tool p99 {window['round_trip']['p99_ms']} ms, lag {entry.get('loop_lag', {}).get('p99_ms')} ms",
                    flush=True,
                )
            procs.post_json(f"{control}/policy", {"tool_period_s": None})
            ended = False
            if not stopped:  # a wedged service would only make every hangup wait for its close
                procs.post_json(f"{control}/hangup_all", timeout_s=120)
                ended = procs.wait_until(lambda: _live(control) == 0, 60)
                if admin:
                    ended = procs.wait_until(lambda: _capacity_in_use(admin) == 0, 60)
            return {
                "name": name,
                "place_rate_per_s": place_rate,
                "baseline_rss_bytes": baseline,
                "baseline_fds": baseline_fds,
                "levels": results,
                "all_ended_after": ended,
                "stopped": stopped,
                "stuck_stack": stuck_stack,
                "tool": tool,
                "tool_name": TOOLS[tool],
            }
        finally:
            if stopped:
                proc.popen.kill()
                proc.popen.wait(10)
            proc.stop(30)
    finally:
        platform.stop()
