"""``python -m bench``: run every benchmark, then write docs/benchmarks.md, its plots and JSON.

::

    python -m bench                 the full run (about 55 minutes on 2 cores)
    python -m bench --quick         a smoke run (about 9 minutes), same outputs, small loads
    python -m bench --only intake,burst   some benchmarks only (intake, intake-plaintext, peer,
                                    concurrency-httpless, concurrency-plaintext, concurrency,
                                    peer-concurrency, burst, profile, public-port, tls-cost, console,
                                    live-cost); add --merge to keep other saved results
    python -m bench profile [--rate R] [--seconds S]   only the profile, printed
    python -m bench render          rewrite the page and plots from the saved results.json

Each component runs in its own process on loopback ports; every run is bounded in count and
time.  Every phase talks to the simulated OpenAI platform over TLS (https, wss; trust through
``SSL_CERT_FILE``) but the two ``-plaintext`` ones, which measure the same service over plain
http and ws in the same run, for TLS's cost.  Results go to ``docs/benchmarks/results.json`` (``--out`` changes the folder of the
page, plots and JSON), the processes' logs to a temporary run directory that is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from bench import burst, concurrency, console, intake, livecost, profile, public_port_ab, tlscost
from bench.plan import FULL, QUICK, Plan
from bench.procs import ROOT, MachineWatch, background_cores
from bench.sysinfo import machine, raise_fd_limit

PHASES = (
    "intake", "intake-plaintext", "peer", "concurrency-httpless", "concurrency-plaintext", "concurrency",
    "peer-concurrency", "burst", "profile", "public-port", "tls-cost", "console", "live-cost",
)


def _phase(
    results: dict[str, Any], key: str, fn: Callable[[], dict[str, Any]], watch: MachineWatch
) -> dict[str, Any] | None:
    started = time.monotonic()
    print(f"== {key}", flush=True)
    try:
        results[key] = fn()
    except Exception as exc:
        traceback.print_exc()
        results.setdefault("errors", {})[key] = f"{type(exc).__name__}: {exc}"
        return None
    finally:
        results.setdefault("phase_seconds", {})[key] = round(time.monotonic() - started, 1)
        results.setdefault("foreign_load", {})[key] = watch.foreign(started, time.monotonic())
    return dict(results[key])


def run_all(plan: Plan, only: set[str], out: Path, place_rate: float | None = None) -> dict[str, Any]:
    run_dir = Path(tempfile.mkdtemp(prefix="callvisor-bench-"))
    print(f"bench: {plan.name} run; process logs in {run_dir}", flush=True)
    results: dict[str, Any] = {
        "plan": plan.name, "plan_settings": attrs.asdict(plan), "machine": machine(), "run_dir": str(run_dir),
        "tls": True,
    }
    results["background_busy_cores"] = background_cores()
    if results["background_busy_cores"] > 0.3:
        print(f"bench: warning: the machine is already busy ({results['background_busy_cores']} cores)", flush=True)
    with MachineWatch() as watch:
        _run_phases(results, plan, only, run_dir, watch, place_rate, out)
    return results


def _run_phases(
    results: dict[str, Any], plan: Plan, only: set[str], run_dir: Path, watch: MachineWatch,
    place_rate: float | None,
    out: Path,
) -> None:
    started = time.monotonic()
    ours = peer = None
    if "intake" in only:
        ours = _phase(results, "intake", lambda: intake.run(run_dir, plan, peer=False), watch)
    if "intake-plaintext" in only:
        # Also at the TLS run's sustained rate, so that CPU per call compares at the same rate.
        matched = (ours or {}).get("sustained_per_s") or None
        _phase(
            results, "intake_plaintext",
            lambda: intake.run(run_dir, plan, peer=False, tls=False, matched_rate=matched), watch,
        )
    if "peer" in only:
        peer = _phase(results, "peer_intake", lambda: intake.run(run_dir, plan, peer=True), watch)
    ours_rate = (ours or {}).get("sustained_per_s") or 100.0
    peer_rate = (peer or {}).get("sustained_per_s") or 40.0
    # Placing calls competes with the calls already up (their tool traffic): well under the
    # intake rate, so that placement does not run away from its schedule at the top levels.
    ours_place = place_rate or min(plan.max_place_rate, max(20.0, 0.6 * ours_rate))
    if "concurrency-httpless" in only:
        _phase(
            results, "concurrency_httpless",
            lambda: concurrency.run(run_dir, plan, peer=False, place_rate=ours_place, tool="httpless"), watch,
        )
    if "concurrency-plaintext" in only:
        _phase(
            results, "concurrency_plaintext",
            lambda: concurrency.run(
                run_dir, plan, peer=False, place_rate=ours_place, tool="httpless", tls=False,
                levels=plan.plaintext_levels,
            ),
            watch,
        )
    if "concurrency" in only:
        _phase(results, "concurrency", lambda: concurrency.run(run_dir, plan, peer=False, place_rate=ours_place), watch)
    if "peer-concurrency" in only:
        rate = min(plan.max_place_rate, max(10.0, peer_rate))
        _phase(results, "peer_concurrency", lambda: concurrency.run(run_dir, plan, peer=True, place_rate=rate), watch)
    if "burst" in only:
        _phase(results, "burst", lambda: burst.run(run_dir, plan), watch)
    if "profile" in only:
        rate = max(20.0, round(0.6 * ours_rate))
        _phase(results, "profile", lambda: profile.run(run_dir, plan, rate), watch)
    if "public-port" in only:
        rounds, seconds = (7, 3.0) if plan.name == "full" else (2, 1.5)
        _phase(results, "public_port", lambda: public_port_ab.measure(rounds=rounds, seconds=seconds), watch)
    if "tls-cost" in only:
        _phase(results, "tls_cost", lambda: tlscost.measure(connections=1000 if plan.name == "full" else 300), watch)
    if "console" in only:  # its own section of the page (bench/console.py), written by the phase
        _phase(results, "console", lambda: console.measure(run_dir, quick=plan.name == "quick", docs=out), watch)
    if "live-cost" in only and _phase(results, "live_cost", lambda: livecost.run(run_dir, plan), watch):
        # A section of its own (bench/sections.py), as `python -m bench.livecost` writes it.
        livecost.write_section({**results["live_cost"], "machine": results["machine"]}, out)
    results["total_seconds"] = round(time.monotonic() - started, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="all", choices=["all", "profile", "render"])
    parser.add_argument("--quick", action="store_true", help="small loads: a smoke run of a few minutes")
    parser.add_argument("--only", default=",".join(PHASES), help="comma-separated: " + ", ".join(PHASES))
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder of benchmarks.md (default docs/)")
    parser.add_argument(
        "--merge", action="store_true",
        help="keep the saved results.json and replace only the benchmarks run now (with --only)",
    )
    parser.add_argument("--place-rate", type=float, default=None, help="calls/s placed by the concurrency runs")
    parser.add_argument("--rate", type=float, default=100.0, help="profile: webhooks/s")
    parser.add_argument("--seconds", type=float, default=None, help="profile: length of the load")
    args = parser.parse_args(argv)
    if args.command == "render":
        from bench.report import write_report

        saved = json.loads((args.out / "benchmarks" / "results.json").read_text())
        for path in write_report(saved, args.out):
            print(path)
        return 0
    limits = raise_fd_limit()
    print(f"bench: RLIMIT_NOFILE {limits[0]}/{limits[1]}", flush=True)
    plan = QUICK if args.quick else FULL
    if args.command == "profile":
        if args.seconds:
            plan = attrs.evolve(plan, profile_s=args.seconds)
        run_dir = Path(tempfile.mkdtemp(prefix="callvisor-profile-"))
        summary = profile.run(run_dir, plan, args.rate)
        from bench.report import profile_tables

        print(profile_tables(summary))
        print(f"full profile: {summary['html']}")
        return 0
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = only - set(PHASES)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    results = run_all(plan, only, args.out, args.place_rate)
    from bench.report import write_report

    if args.merge:
        saved = json.loads((args.out / "benchmarks" / "results.json").read_text())
        for key in list(saved.get("errors", {})):  # a phase re-run now keeps only its new error
            if key in results:
                del saved["errors"][key]
        for key in ("phase_seconds", "foreign_load", "errors"):
            saved.setdefault(key, {}).update(results.pop(key, {}))
        results.pop("total_seconds", None)
        saved.setdefault("merged", []).append({"phases": sorted(only), "date": results["machine"]["date"]})
        saved.update({k: v for k, v in results.items() if k not in ("machine", "plan", "plan_settings")})
        saved["total_seconds"] = round(sum(saved["phase_seconds"].values()), 1)
        results = saved
    written = write_report(results, args.out)
    print(json.dumps({"written": [str(p) for p in written], "seconds": results["total_seconds"]}))
    return 1 if results.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
