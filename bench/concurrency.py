"""Benchmark 2: many concurrent live calls in one process (callvisor, then the peer).

Calls are placed through the webhook at a moderate rate and then stay up: each holds its
sideband websocket to the platform, and the platform has the model call the bench tenant's
``lookup_order`` tool on every call once per ``tool_period_s`` (at a random phase), answered by
the service and timed on the platform side.  At each level the server's RSS above its
baseline (measured after a warm-up, before any call) is divided by the number of calls; its CPU
time over the window is divided by calls and minutes; callvisor's event-loop lag comes from its
``callvisor_event_loop_lag_seconds`` histogram (difference of two scrapes, so only the window
counts; the quantile is interpolated inside Prometheus buckets).

Over TLS by default (https call control, wss sidebands, trust through ``SSL_CERT_FILE``); the
lag is also taken over each placement (``placing_loop_lag``: while the calls are being placed,
handshakes and accepts included), and summed over the whole climb.  Once the server holds more
than ``FD_WINDOW_CALLS`` calls (so well over 1,024 descriptors), each placement runs inside a
*connection window* of the platform: how many call-control connections the server opened for
how many accepts, with its descriptor count at the window's start and end.
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

import httpx

from bench import procs
from bench.plan import Plan
from bench.stats import bucket_bounds, histogram_delta, histogram_quantile, parse_histogram
from supervisor.testing import new_secret

LAG = "callvisor_event_loop_lag_seconds"
GC = "callvisor_gc_pause_seconds"
#: Live calls above which placements are counted for call-control connections per accept: past
#: 1,024 descriptors, where a select()-based idle check fails and a pool would reconnect.
FD_WINDOW_CALLS = 1100


def lag_summary(delta: dict[float, float]) -> dict[str, Any]:
    """p50 / p99 (interpolated) and the p99's bucket of a loop-lag histogram delta."""
    return {
        "observations": delta.get(float("inf"), 0.0),
        "p99_ms": round(histogram_quantile(delta, 0.99) * 1000, 3),
        "p50_ms": round(histogram_quantile(delta, 0.50) * 1000, 3),
        "p99_bucket_ms": [round(b * 1000, 3) for b in bucket_bounds(delta, 0.99)],
        "buckets": {str(k): v for k, v in delta.items()},
    }


def _add(total: dict[float, float], delta: dict[float, float]) -> dict[float, float]:
    return {bound: total.get(bound, 0.0) + delta.get(bound, 0.0) for bound in {*total, *delta}}


def _merge_placements(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One placement from its parts: outcomes added, the round trip of the largest part."""
    if len(parts) == 1:
        return parts[0]
    outcomes: dict[str, int] = {}
    for part in parts:
        for key, n in part["outcomes"].items():
            outcomes[key] = outcomes.get(key, 0) + n
    main = max(parts, key=lambda part: part["completed"])
    return {**main, "outcomes": outcomes, "completed": sum(part["completed"] for part in parts)}


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


#: Memory the machine keeps free for everything else while a level is placed.
MEMORY_HEADROOM_BYTES = 3 * 2**30


def _memory_short(proc: procs.Proc, baseline: int, placed: int, level: int) -> str:
    """Why placing up to ``level`` would exhaust the machine's memory, or "" if it fits (judged
    from the RSS per call so far; the peer over TLS holds about a megabyte per call)."""
    if placed == 0:
        return ""
    per_call = max(proc.rss() - baseline, 0) / placed
    needed = per_call * (level - placed)
    available = procs.memory_available()
    if needed + MEMORY_HEADROOM_BYTES <= available:
        return ""
    return (
        f"not placed up to {level:,}: at {per_call / 1024:,.0f} KiB per call it would need "
        f"{needed / 2**30:,.1f} GiB more, with {available / 2**30:,.1f} GiB available"
    )


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


def run(
    run_dir: Path, plan: Plan, *, peer: bool, place_rate: float, tool: str = "http", tls: bool = True,
    levels: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    secret = new_secret()
    name = ("peer" if peer else ("callvisor" if tool == "http" else "callvisor-httpless")) + ("" if tls else "-plaintext")
    if levels is None:
        levels = plan.peer_levels if peer else (plan.levels if tool == "httpless" else plan.http_tool_levels)
    platform, urls = procs.start_platform(run_dir, f"platform-concurrency-{name}", tls=tls)
    control = urls["control_url"]
    admin = ""
    try:
        procs.post_json(f"{control}/policy", {"hangup_after_s": None, "tool_period_s": None, "auto_audio": False})
        if peer:
            proc, port = procs.start_peer(run_dir, urls, secret, "peer-concurrency")
            path = "/openai/webhook"
        else:
            tenants = procs.write_tenants(run_dir, urls["tool_url"])
            proc, public, admin = procs.start_service(
                run_dir, urls, secret, tenants, name=f"service-concurrency-{tool}{'' if tls else '-plaintext'}",
            )
            port, path = int(public.rsplit(":", 1)[1]), "/webhooks/openai"
        stopped = skipped = ""
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
            climb_lag: dict[float, float] = {}
            for level in levels:
                skipped = _memory_short(proc, baseline, placed, level)
                if skipped:
                    print(f"[concurrency:{name}]   {skipped}; no higher level", flush=True)
                    break
                print(f"[concurrency:{name}] placing calls up to {level} at {place_rate:g}/s", flush=True)
                started = time.monotonic()
                placing_before, placing_gc_before = _lag(admin), _gc(admin)
                parts = []
                if placed < FD_WINDOW_CALLS < level:
                    parts.append(_place(port, secret, path, FD_WINDOW_CALLS - placed, place_rate, f"cc{level}a"))
                    placed = FD_WINDOW_CALLS
                    procs.wait_until(partial(_reached, control, placed), 60, interval_s=1.0)
                conn_window: dict[str, Any] | None = None
                if placed >= FD_WINDOW_CALLS:
                    conn_window = {"live_at_start": _live(control), "fds_at_start": proc.ps.num_fds()}
                    procs.post_json(f"{control}/conn_window")
                parts.append(_place(port, secret, path, level - placed, place_rate, f"cc{level}"))
                placement = _merge_placements(parts)
                placed = level
                procs.wait_until(partial(_reached, control, level), 60, interval_s=1.0)
                place_s = time.monotonic() - started
                if conn_window is not None:
                    conn_window.update(procs.get_json(f"{control}/conn_window"))
                    conn_window["fds_at_end"] = proc.ps.num_fds()
                placing_delta = histogram_delta(placing_before, _lag(admin)) if admin else {}
                placing_gc = _gc_delta(placing_gc_before, _gc(admin)) if admin else {}
                climb_lag = _add(climb_lag, placing_delta)
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
                if conn_window is not None:
                    entry["conn_window"] = conn_window
                if admin:
                    entry["loop_lag"] = lag_summary(histogram_delta(lag_before, _lag(admin)))
                    entry["placing_loop_lag"] = lag_summary(placing_delta)
                    entry["placing_loop_lag"].pop("buckets")
                    entry["placing_gc_pauses"] = placing_gc
                    entry["gc_pauses"] = _gc_delta(gc_before, _gc(admin))
                    entry["capacity_in_use"] = _capacity_in_use(admin)
                results.append(entry)
                print(
                    f"[concurrency:{name}]   {open_now} calls: {entry['rss_per_call_kib']} KiB/call, "
                    f"tool p99 {window['round_trip']['p99_ms']} ms, lag {entry.get('loop_lag', {}).get('p99_ms')} ms",
                    flush=True,
                )
            procs.post_json(f"{control}/policy", {"tool_period_s": None})
            windows = [lv["conn_window"] for lv in results if "conn_window" in lv]
            summary = procs.get_json(f"{control}/summary")
            ended = False
            cleanup_error = ""
            if not stopped:  # a wedged service would only make every hangup wait for its close
                try:  # the levels are measured: a failing cleanup must not lose them
                    procs.post_json(f"{control}/hangup_all", timeout_s=120)
                    ended = procs.wait_until(lambda: _live(control) == 0, 60)
                    if admin:
                        ended = procs.wait_until(lambda: _capacity_in_use(admin) == 0, 60)
                except (httpx.HTTPError, OSError) as exc:
                    cleanup_error = f"{type(exc).__name__}: {exc}"
            return {
                "name": name,
                "place_rate_per_s": place_rate,
                "baseline_rss_bytes": baseline,
                "baseline_fds": baseline_fds,
                "levels": results,
                "all_ended_after": ended,
                "cleanup_error": cleanup_error,
                "stopped": stopped or skipped,
                "stuck_stack": stuck_stack,
                "tool": tool,
                "tool_name": TOOLS[tool],
                "tls": tls,
                "trust_bundle_certs": urls.get("trust_bundle_certs"),
                "placing_loop_lag": lag_summary(climb_lag) if climb_lag else None,
                "conn_above_fd_limit": _conn_total(windows),
                "platform_summary": summary,
                "failures": procs.failures(proc, peer=peer),
            }
        finally:
            if stopped:
                proc.popen.kill()
                proc.popen.wait(10)
            proc.stop(30)
    finally:
        platform.stop()


def _conn_total(windows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Call-control connections opened per accept over every window above ``FD_WINDOW_CALLS``."""
    if not windows:
        return None
    accepts = sum(w["accepts"] for w in windows)
    opened = sum(w["connections_opened"] for w in windows)
    used = max(w["connections_used"] for w in windows)
    return {
        "accepts": accepts,
        "connections_opened": opened,
        "connections_used_max": used,
        "opened_per_accept": round(opened / accepts, 4) if accepts else None,
        "min_fds": min(w["fds_at_start"] for w in windows),
        "max_fds": max(w["fds_at_end"] for w in windows),
        "min_live": min(w["live_at_start"] for w in windows),
        "windows": len(windows),
    }
