"""Benchmark 3: a burst of simultaneous incoming calls against a global limit.

``MAX_CONCURRENT_CALLS`` is set to ``burst_limit``; the load generator opens ``burst_count``
connections, then sends one webhook on each at the same instant.  Accepted calls stay up (the
platform does not hang them up) until every answer is in, so the limit really binds.  Counted
three ways: the webhook answers, the accept requests the platform received, and the service's
``call_accepted`` log lines.  Then the platform hangs every call up and ``GET /actors`` on the
operator port must show ``capacity.used == 0``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench import procs
from bench.plan import Plan
from supervisor.testing import new_secret


def run(run_dir: Path, plan: Plan) -> dict[str, Any]:
    secret = new_secret()
    platform, urls = procs.start_platform(run_dir, "platform-burst")
    control = urls["control_url"]
    try:
        procs.post_json(f"{control}/policy", {"hangup_after_s": None, "tool_period_s": None, "auto_audio": True})
        tenants = procs.write_tenants(run_dir, urls["tool_url"])
        proc, public, admin = procs.start_service(
            run_dir, urls, secret, tenants, name="service-burst",
            env={"MAX_CONCURRENT_CALLS": str(plan.burst_limit)},
        )
        port = public.rsplit(":", 1)[1]
        reps = []
        try:
            for rep in range(plan.burst_reps):
                print(f"[burst] {plan.burst_count} calls at once, limit {plan.burst_limit} (run {rep + 1})", flush=True)
                before = procs.get_json(f"{control}/summary")
                prefix = f"burst{rep}"
                answer = procs.loadgen(
                    "burst", "--port", port, "--secret", secret, "--to", procs.BENCH_NUMBER,
                    "--count", str(plan.burst_count), "--prefix", prefix, "--timeout", "30",
                )
                after = procs.get_json(f"{control}/summary")
                used_live = procs.get_json(f"{admin}/actors")["capacity"]["used"]
                accepted_log = sum(
                    1 for line in procs.log_lines(proc.stderr_path, "call_accepted")
                    if str(line.get("call_id", "")).startswith(f"rtc_{prefix}_")
                )
                hung_up_at = time.monotonic()
                procs.post_json(f"{control}/hangup_all")
                zero = procs.wait_until(
                    lambda: procs.get_json(f"{admin}/actors")["capacity"]["used"] == 0, 30, 0.1
                )
                released_s = time.monotonic() - hung_up_at
                used_after = procs.get_json(f"{admin}/actors")["capacity"]["used"]
                requests = {
                    action: after["requests"].get(action, 0) - before["requests"].get(action, 0)
                    for action in ("accept", "reject", "hangup")
                }
                reps.append(
                    {
                        "answers": answer["outcomes"],
                        "accepted_answers": answer["outcomes"].get("accepted", 0),
                        "accept_requests_seen": after["accepted_by_prefix"].get(f"rtc_{prefix}", 0),
                        "requests_seen": requests,
                        "accepted_log_lines": accepted_log,
                        "capacity_used_while_live": used_live,
                        "decide_all_s": answer["decide_all_s"],
                        "connect_s": answer["connect_s"],
                        "round_trip": answer["round_trip"],
                        "slots_released_s": round(released_s, 3),
                        "capacity_used_after": used_after,
                        "zero_after_end": bool(zero and used_after == 0),
                    }
                )
                print(f"[burst]   {reps[-1]['accepted_answers']} accepted, decided in {answer['decide_all_s']} s, used after {used_after}", flush=True)
        finally:
            proc.stop()
        return {"count": plan.burst_count, "limit": plan.burst_limit, "runs": reps}
    finally:
        platform.stop()
