"""Benchmark 5: where callvisor's CPU goes under intake load (pyinstrument, in the process).

``python -m bench profile [--rate R] [--seconds S]`` starts ``callvisor serve`` under
:mod:`bench.profiled` (pyinstrument sampling the main thread every millisecond), drives it with
the load generator at a fixed rate against the bench platform (calls hung up after a second,
as in the intake runs), and profiles from the first webhook of the measured load until its
last call ended (SIGUSR1 / SIGUSR2; start-up and a warm-up are left out).  Wall time spent
waiting in trio's epoll call is idle and left out, so the shares are shares of busy CPU time.
Writes ``profile.html`` (pyinstrument's interactive view) and ``profile.txt`` next to the
run's other outputs, and returns the tables the report prints.

Run it before and after a change to record what the change bought.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

from bench import procs
from bench.plan import Plan
from supervisor.testing import new_secret


def run(run_dir: Path, plan: Plan, rate: float) -> dict[str, Any]:
    secret = new_secret()
    out = run_dir / "profile"
    out.mkdir(exist_ok=True)
    platform, urls = procs.start_platform(run_dir, "platform-profile")
    control = urls["control_url"]
    try:
        procs.post_json(f"{control}/policy", {"hangup_after_s": plan.call_hold_s, "auto_audio": False})
        tenants = procs.write_tenants(run_dir, urls["tool_url"])
        proc, public, _admin = procs.start_service(
            run_dir, urls, secret, tenants, name="service-profile",
            wrapper=procs.python("-m", "bench.profiled", str(out)),
        )
        port = public.rsplit(":", 1)[1]
        try:
            print(f"[profile] {rate:g} webhooks/s for {plan.profile_s:g} s under pyinstrument", flush=True)
            procs.loadgen(
                "steps", "--port", port, "--secret", secret, "--to", procs.BENCH_NUMBER,
                "--rates", "20", "--duration", "2", "--prefix", "profwarm", "--no-stop",
            )
            procs.wait_until(lambda: procs.get_json(f"{control}/summary")["open_sidebands"] == 0, 30)
            proc.popen.send_signal(signal.SIGUSR1)
            time.sleep(0.2)
            step = procs.loadgen(
                "steps", "--port", port, "--secret", secret, "--to", procs.BENCH_NUMBER,
                "--rates", str(rate), "--duration", str(plan.profile_s), "--prefix", "prof", "--no-stop",
            )["steps"][0]
            procs.wait_until(lambda: procs.get_json(f"{control}/summary")["open_sidebands"] == 0, 30)
            time.sleep(0.5)
            proc.popen.send_signal(signal.SIGUSR2)
        finally:
            code = proc.stop(60)
        summary_path = out / "summary.json"
        procs.wait_until(summary_path.exists, 30)
        summary: dict[str, Any] = json.loads(summary_path.read_text())
        summary["load"] = {
            "rate_per_s": rate,
            "seconds": plan.profile_s,
            "achieved_per_s": step["achieved_per_s"],
            "round_trip": step["round_trip"],
            "calls": step["completed"],
        }
        summary["exit_code"] = code
        summary["html"] = str(out / "profile.html")
        return summary
    finally:
        platform.stop()
