"""The operator port at many live calls: what ``GET /actors`` and one console refresh cost the loop.

``python -m bench.console [--quick] [--calls N]`` (``make bench`` runs it as its ``console``
phase): ``callvisor serve`` against the bench platform (plain http and ws: TLS changes nothing
the operator port does), ``--calls`` live calls placed through the webhook (10,000; 1,000 with
``--quick``) and held, each with its sideband open (no tools, no audio).  Then four windows of
``--seconds`` each, the service's own ``callvisor_event_loop_lag_seconds`` histogram scraped
before and after each (the quantiles only as fine as its buckets: "≤ X ms" is the bucket bound):

* ``idle``: nothing but the held calls;
* ``actors``: ``GET /actors`` back to back, one at a time (every call with its task tree);
* ``console_back_to_back``: ``GET /console/state`` back to back, one at a time;
* ``console_page``: ``GET /console/state`` every 0.5 s, as one open console page refreshes.

Each request's time is also taken by the client, with its size.  Results: ``console.json`` and
the ``console`` section of ``docs/benchmarks.md`` (``docs/benchmarks/sections/console.md``,
spliced by :mod:`bench.sections`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import procs, sections
from bench.concurrency import LAG, lag_summary
from bench.stats import histogram_delta, parse_histogram, summary_ms
from supervisor.testing import new_secret

FULL_CALLS = 10_000
QUICK_CALLS = 1_000
PLACE_RATE = 200.0
#: The page's refresh period (supervisor/console/console.js POLL_MS).
PAGE_PERIOD_S = 0.5


def _lag(admin: str) -> dict[float, float]:
    return parse_histogram(procs.get_text(f"{admin}/metrics", timeout_s=60), LAG)


def _max_bucket_ms(delta: dict[float, float]) -> float | None:
    """The smallest bucket bound at or under which every observation of ``delta`` lies."""
    total = delta.get(math.inf, 0.0)
    for bound in sorted(delta):
        if total and delta[bound] >= total:
            return None if math.isinf(bound) else round(bound * 1000, 3)
    return None


def _window(admin: str, seconds: float, url: str | None, period_s: float | None) -> dict[str, Any]:
    """Loop lag over ``seconds`` while ``url`` is fetched back to back (or every ``period_s``)."""
    before = _lag(admin)
    times: list[float] = []
    sizes: list[int] = []
    started = time.monotonic()
    with httpx.Client(timeout=60) as client:
        while time.monotonic() - started < seconds:
            if url is None:
                time.sleep(0.1)
                continue
            t0 = time.monotonic()
            response = client.get(url)
            times.append(time.monotonic() - t0)
            response.raise_for_status()
            sizes.append(len(response.content))
            if period_s is not None:
                time.sleep(max(0.0, period_s - (time.monotonic() - t0)))
    delta = histogram_delta(before, _lag(admin))
    lag = lag_summary(delta)
    lag.pop("buckets")
    lag["max_bucket_ms"] = _max_bucket_ms(delta)
    result: dict[str, Any] = {"seconds": round(time.monotonic() - started, 1), "loop_lag": lag}
    if times:
        result["requests"] = summary_ms(times)
        result["body_bytes"] = max(sizes)
    return result


def run(run_dir: Path, calls: int, seconds: float) -> dict[str, Any]:
    secret = new_secret()
    platform, urls = procs.start_platform(run_dir, "platform-console", tls=False)
    control = urls["control_url"]
    try:
        procs.post_json(f"{control}/policy", {"hangup_after_s": None, "tool_period_s": None, "auto_audio": False})
        tenants = procs.write_tenants(run_dir, urls["tool_url"])
        proc, public, admin = procs.start_service(run_dir, urls, secret, tenants, name="service-console")
        try:
            port = int(public.rsplit(":", 1)[1])
            print(f"[console] placing {calls:,} calls at {PLACE_RATE:g}/s", flush=True)
            t0 = time.monotonic()
            procs.loadgen(
                "steps", "--port", str(port), "--secret", secret, "--to", procs.BENCH_NUMBER,
                "--webhook-path", "/webhooks/openai", "--connections", "64", "--rates", str(PLACE_RATE),
                "--count", str(calls), "--prefix", "console", "--no-stop", "--timeout", "30", "--max-lag", "120",
            )
            def live() -> int:
                return int(procs.get_json(f"{control}/summary")["open_sidebands"])

            procs.wait_until(lambda: live() >= calls, 120, interval_s=1.0)
            placed_s = round(time.monotonic() - t0, 1)
            held = int(procs.get_json(f"{admin}/console/state")["calls"]["total"])
            print(f"[console] {held:,} live calls after {placed_s} s; measuring", flush=True)
            time.sleep(3.0)
            windows = {
                "idle": _window(admin, seconds, None, None),
                "actors": _window(admin, seconds, f"{admin}/actors", None),
                "console_back_to_back": _window(admin, seconds, f"{admin}/console/state", None),
                "console_page": _window(admin, seconds, f"{admin}/console/state", PAGE_PERIOD_S),
            }
            for name, window in windows.items():
                print(f"[console]   {name}: lag p99 {window['loop_lag']['p99_ms']} ms, "
                      f"max <= {window['loop_lag']['max_bucket_ms']} ms, requests {window.get('requests')}", flush=True)
            procs.post_json(f"{control}/hangup_all", timeout_s=300)
            procs.wait_until(lambda: live() == 0, 120)
            return {"calls": held, "placed_in_s": placed_s, "window_s": seconds, "windows": windows}
        finally:
            proc.stop(60)
    finally:
        platform.stop()


def section(result: dict[str, Any]) -> str:
    """The page's Markdown section for one run."""
    w = result["windows"]
    rows = [
        ("idle (the calls held, nothing asked)", w["idle"]),
        ("`GET /actors` back to back", w["actors"]),
        ("`GET /console/state` back to back", w["console_back_to_back"]),
        ("`GET /console/state` every 0.5 s (one open console)", w["console_page"]),
    ]
    lines = [
        "## Operator port at many live calls",
        "",
        f"`python -m bench.console` ({result.get('plan', 'full')} run, {result['date']}): "
        f"{result['calls']:,} live calls held by `callvisor serve` (sidebands open, plain ws), "
        f"{result['window_s']:g} s per window. Loop lag is the service's own "
        "`callvisor_event_loop_lag_seconds` (how late a 100 ms timer fires; \"max ≤\" is the "
        "histogram bucket holding the worst observation). Request times are the client's, one "
        "request at a time.",
        "",
        "| while | loop lag p50 | loop lag p99 | loop lag max ≤ | requests | request p50 | request max | body |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, window in rows:
        lag = window["loop_lag"]
        req = window.get("requests")
        lines.append(
            f"| {label} | {lag['p50_ms']} ms | {lag['p99_ms']} ms | {lag['max_bucket_ms']} ms | "
            + (f"{req['n']} | {req['p50_ms']} ms | {req['max_ms']} ms | {window['body_bytes'] / 1024:,.0f} KiB |"
               if req else "- | - | - | - |")
        )
    lines += [
        "",
        "A console refresh lists at most 50 calls in full (task trees included) and counts every "
        "call by tenant in one pass without a checkpoint (supervisor/console/_state.py): that pass "
        "is the refresh's stall, and an open page asks twice a second. `GET /actors` describes "
        "every call with its tree, 200 calls between two checkpoints (supervisor/admin_app.py): "
        "its request time grows with the calls, the loop's stall stays at one chunk's. "
        "`python -m bench.console --render` rewrites this section from console.json.",
    ]
    return "\n".join(lines)


def write(result: dict[str, Any], docs: Path) -> list[Path]:
    """``console.json`` and the page's section, spliced into docs/benchmarks.md."""
    folder = docs / "benchmarks"
    data = folder / "console.json"
    data.write_text(json.dumps(result, indent=2) + "\n")
    md = docs / sections.FOLDER / "console.md"
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(section(result) + "\n")
    sections.main([str(docs)])
    return [data, md]


def measure(run_dir: Path, *, quick: bool, docs: Path | None = None) -> dict[str, Any]:
    """One run at the plan's size (``make bench``'s console phase), written to ``docs``."""
    result = run(run_dir, QUICK_CALLS if quick else FULL_CALLS, 5.0 if quick else 15.0)
    result["plan"] = "quick" if quick else "full"
    result["date"] = time.strftime("%Y-%m-%d")
    if docs is not None:
        write(result, docs)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.console", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_CALLS:,} calls, 5 s windows")
    parser.add_argument("--calls", type=int, default=None, help=f"live calls (default {FULL_CALLS:,})")
    parser.add_argument("--seconds", type=float, default=None, help="length of each window (default 15)")
    parser.add_argument("--out", type=Path, default=procs.ROOT / "docs", help="folder of benchmarks.md")
    parser.add_argument("--render", action="store_true", help="only rewrite the section from console.json")
    args = parser.parse_args(argv)
    if args.render:
        saved = json.loads((args.out / "benchmarks" / "console.json").read_text())
        for path in write(saved, args.out):
            print(path)
        return 0
    from bench.sysinfo import raise_fd_limit

    raise_fd_limit()
    run_dir = Path(tempfile.mkdtemp(prefix="callvisor-console-bench-"))
    print(f"bench.console: process logs in {run_dir}", flush=True)
    calls = args.calls or (QUICK_CALLS if args.quick else FULL_CALLS)
    seconds = args.seconds or (5.0 if args.quick else 15.0)
    result = run(run_dir, calls, seconds)
    result["plan"] = "quick" if args.quick else "full"
    result["date"] = time.strftime("%Y-%m-%d")
    for path in write(result, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
