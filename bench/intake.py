"""Benchmark 1: intake, for callvisor and for the peer, each against a fresh platform.

For one server: warm it up; measure its empty-route ceiling (closed loop); the round trip of
lone webhooks (one connection, one at a time); then the open-loop sweep at rising rates until a
step fails.  The highest passing step is the *sustained rate*; it is then re-run ``reps``
times to confirm it, and ``reps`` more runs at half of it give the decision overhead the goal
speaks of.  During these runs the platform hangs every call up ``call_hold_s`` after its
session starts, so calls come and go as they would on a busy line.

Every run talks to the platform over TLS (https call control, wss sideband; the trust store is
the system bundle plus the platform's test CA, through ``SSL_CERT_FILE``) unless ``tls=False``:
the plaintext run beside it (callvisor only) skips the ceiling and the half-rate runs, which
TLS does not touch, and instead repeats the TLS run's sustained rate (``matched``) so that CPU
per call is compared at the same rate.  The webhooks themselves always arrive over plain http:
callvisor's public port sits behind the operator's own TLS terminator.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench import procs
from bench.plan import Plan
from bench.stats import percentile, spread, summary_ms
from bench.sysinfo import default_context_cost
from supervisor.testing import new_secret


class Target:
    """A server under test: its process, port, routes and where its per-call timings are."""

    def __init__(
        self, name: str, proc: procs.Proc, port: int, *, webhook_path: str, empty_path: str,
        accepted_log: Path, to: str, platform: procs.Proc,
    ) -> None:
        self.name = name
        self.platform = platform
        self.proc = proc
        self.port = port
        self.webhook_path = webhook_path
        self.empty_path = empty_path
        self.accepted_log = accepted_log
        self.to = to

    def decisions_ms(self, prefix: str) -> tuple[list[float], list[float]]:
        """decision_ms and accept_ms of the calls whose id starts with ``prefix``."""
        decisions, accepts = [], []
        for line in procs.log_lines(self.accepted_log, "call_accepted"):
            if str(line.get("call_id", "")).startswith(prefix):
                decisions.append(float(line["decision_ms"]))
                accepts.append(float(line["accept_ms"]))
        return decisions, accepts


def _idle(control_url: str, timeout_s: float = 60.0) -> None:
    """Wait until the platform has no live sideband (every call of the last run ended)."""
    procs.wait_until(lambda: procs.get_json(f"{control_url}/summary")["open_sidebands"] == 0, timeout_s)
    time.sleep(1.0)


def _steps(target: Target, secret: str, plan: Plan, rates: list[float], prefix: str, *, stop: bool = True) -> list[dict[str, Any]]:
    args = [
        "steps", "--port", str(target.port), "--secret", secret, "--to", target.to,
        "--webhook-path", target.webhook_path, "--connections", str(plan.connections),
        "--duration", str(plan.step_s), "--p99-limit-ms", str(plan.p99_limit_ms),
        "--prefix", prefix, "--rates", *[str(r) for r in rates],
    ]
    if not stop:
        args.append("--no-stop")
    return list(procs.loadgen(*args)["steps"])


def _measured(target: Target, control_url: str, plan: Plan, run: Callable[[], list[dict[str, Any]]]) -> dict[str, Any]:
    """Run one step and wait for its calls to end, recording the server's CPU time.

    ``server_cpu_cores``: CPU seconds during the step over its scheduled length;
    ``server_cpu_ms_per_call``: CPU from the step's start until its last call ended, per call
    answered (so a call's teardown is counted too).
    """
    cpu0, platform0 = target.proc.cpu_s(), target.platform.cpu_s()
    step = run()[0]
    cpu1, platform1 = target.proc.cpu_s(), target.platform.cpu_s()
    _idle(control_url)
    cpu2 = target.proc.cpu_s()
    step["server_cpu_cores"] = round((cpu1 - cpu0) / plan.step_s, 3)
    step["platform_cpu_cores"] = round((platform1 - platform0) / plan.step_s, 3)
    step["loadgen_cpu_cores"] = round(step["loadgen_cpu_s"] / plan.step_s, 3)
    step["server_cpu_ms_per_call"] = round((cpu2 - cpu0) / max(step["completed"], 1) * 1000, 3)
    return step


def measure(
    target: Target, secret: str, control_url: str, plan: Plan, *, full: bool = True,
    matched_rate: float | None = None,
) -> dict[str, Any]:
    """The intake figures of one server; ``full=False`` leaves out the ceiling and the half-rate
    runs and runs the sequential webhooks once; ``matched_rate`` adds ``reps`` runs at that rate."""
    result: dict[str, Any] = {"name": target.name}
    print(f"[intake:{target.name}] warm-up", flush=True)
    _steps(target, secret, plan, [20.0], "warm", stop=False)
    _idle(control_url)
    if full:
        result["ceiling"] = _ceiling(target, plan)
    result["sequential"] = _sequential(target, secret, control_url, plan, plan.reps if full else 1)
    _sweep(result, target, secret, control_url, plan)
    sustained = result["sustained_per_s"]
    if sustained:
        print(f"[intake:{target.name}] confirm {sustained:g}/s", flush=True)
        result["confirm"] = _repeated(target, secret, control_url, plan, sustained, "cf")
    if matched_rate:
        print(f"[intake:{target.name}] {matched_rate:g}/s, the TLS run's sustained rate", flush=True)
        result["matched"] = _repeated(target, secret, control_url, plan, matched_rate, "mt")
        result["matched"]["rate_per_s"] = matched_rate
    if sustained and full:
        print(f"[intake:{target.name}] half rate", flush=True)
        result["half_rate"] = _half_rate(target, secret, control_url, plan, sustained)
    return result


def _ceiling(target: Target, plan: Plan) -> dict[str, Any]:
    print(f"[intake:{target.name}] empty-route ceiling", flush=True)
    ceilings = [
        procs.loadgen(
            "ceiling", "--port", str(target.port), "--path", target.empty_path,
            "--duration", str(plan.ceiling_s), "--connections", str(plan.ceiling_connections),
        )
        for _ in range(plan.reps)
    ]
    return {
        "requests_per_s": spread([c["requests_per_s"] for c in ceilings]),
        "runs": ceilings,
    }


def _sequential(target: Target, secret: str, control_url: str, plan: Plan, reps: int) -> dict[str, Any]:
    print(f"[intake:{target.name}] sequential webhooks", flush=True)
    sequential = []
    for rep in range(reps):
        sequential.append(
            procs.loadgen(
                "sequential", "--port", str(target.port), "--secret", secret, "--to", target.to,
                "--webhook-path", target.webhook_path, "--count", str(plan.sequential_count),
                "--prefix", f"seq{rep}", "--gap-ms", "2",
            )
        )
        _idle(control_url)
    return {
        "p50_ms": spread([s["round_trip"]["p50_ms"] for s in sequential]),
        "p99_ms": spread([s["round_trip"]["p99_ms"] for s in sequential]),
        "runs": [{k: v for k, v in s.items() if k != "samples_ms"} for s in sequential],
        "samples_ms": [s["samples_ms"] for s in sequential],
    }


def _sweep(result: dict[str, Any], target: Target, secret: str, control_url: str, plan: Plan) -> None:
    print(f"[intake:{target.name}] sweep", flush=True)
    sweep: list[dict[str, Any]] = []
    for rate in plan.rates:
        step = _measured(target, control_url, plan, partial(_steps, target, secret, plan, [rate], "sw"))
        decisions, accepts = target.decisions_ms(step["call_id_prefix"])
        step["decision"] = summary_ms([d / 1000 for d in decisions])
        step["accept_rest"] = summary_ms([a / 1000 for a in accepts])
        sweep.append(step)
        print(
            f"[intake:{target.name}]   {rate:g}/s -> {step['achieved_per_s']}/s, p99 "
            f"{step['round_trip']['p99_ms']} ms, cpu {step['server_cpu_cores']} cores, ok={step['ok']}",
            flush=True,
        )
        if not step["ok"]:
            break
    result["sweep"] = sweep
    passing = [s for s in sweep if s["ok"]]
    result["sustained_per_s"] = max((s["offered_per_s"] for s in passing), default=0.0)


def _repeated(target: Target, secret: str, control_url: str, plan: Plan, rate: float, tag: str) -> dict[str, Any]:
    """``reps`` runs at ``rate``, each with the server's CPU until its last call ended."""
    runs = [
        _measured(target, control_url, plan, partial(_steps, target, secret, plan, [rate], f"{tag}{rep}r", stop=False))
        for rep in range(plan.reps)
    ]
    return {
        "achieved_per_s": spread([c["achieved_per_s"] for c in runs]),
        "passed": [c["ok"] for c in runs],
        "round_trip_p99_ms": spread([c["round_trip"]["p99_ms"] for c in runs]),
        "server_cpu_cores": spread([c["server_cpu_cores"] for c in runs]),
        "server_cpu_ms_per_call": spread([c["server_cpu_ms_per_call"] for c in runs]),
        "platform_cpu_cores": spread([c["platform_cpu_cores"] for c in runs]),
        "runs": runs,
    }


def _half_rate(target: Target, secret: str, control_url: str, plan: Plan, sustained: float) -> dict[str, Any]:
    half = []
    for rep in range(plan.reps):
        step = _steps(target, secret, plan, [sustained / 2], f"hf{rep}r", stop=False)[0]
        decisions, accepts = target.decisions_ms(step["call_id_prefix"])
        step["decision_p50_ms"] = round(percentile(decisions, 50), 3)
        step["decision_p99_ms"] = round(percentile(decisions, 99), 3)
        step["accept_rest_p50_ms"] = round(percentile(accepts, 50), 3)
        step["decision_samples_ms"] = decisions
        half.append(step)
        _idle(control_url)
    return {
        "rate_per_s": sustained / 2,
        "decision_p50_ms": spread([h["decision_p50_ms"] for h in half]),
        "decision_p99_ms": spread([h["decision_p99_ms"] for h in half]),
        "round_trip_p50_ms": spread([h["round_trip"]["p50_ms"] for h in half]),
        "round_trip_p99_ms": spread([h["round_trip"]["p99_ms"] for h in half]),
        "runs": half,
    }


def run(
    run_dir: Path, plan: Plan, *, peer: bool, tls: bool = True, matched_rate: float | None = None,
) -> dict[str, Any]:
    """The intake benchmark for callvisor (``peer=False``) or the peer, over TLS unless ``tls``
    is false (then the short plaintext run, see the module docstring)."""
    secret = new_secret()
    name = ("peer" if peer else "callvisor") + ("" if tls else "-plaintext")
    platform, urls = procs.start_platform(run_dir, f"platform-intake-{name}", tls=tls)
    try:
        control = urls["control_url"]
        procs.post_json(f"{control}/policy", {"hangup_after_s": plan.call_hold_s, "auto_audio": False})
        if peer:
            proc, port = procs.start_peer(run_dir, urls, secret, "peer-intake")
            target = Target(
                name, proc, port, webhook_path="/openai/webhook", empty_path="/",
                accepted_log=proc.stdout_path, to=procs.BENCH_NUMBER, platform=platform,
            )
        else:
            tenants = procs.write_tenants(run_dir, urls["tool_url"])
            proc, public, _admin = procs.start_service(run_dir, urls, secret, tenants, name=f"service-intake{'' if tls else '-plaintext'}")
            target = Target(
                name, proc, int(public.rsplit(":", 1)[1]), webhook_path="/webhooks/openai",
                empty_path="/health", accepted_log=proc.stderr_path, to=procs.BENCH_NUMBER,
                platform=platform,
            )
        try:
            result = measure(target, secret, control, plan, full=tls, matched_rate=matched_rate)
            result["tls"] = tls
            result["trust_bundle_certs"] = urls.get("trust_bundle_certs")
            if peer and tls:
                # What the peer's websockets pays per sideband: a default context over the bundle.
                result["default_context_cost"] = default_context_cost(urls.get("trust_bundle"))
            result["platform_summary"] = procs.get_json(f"{control}/summary")
            result["failures"] = procs.failures(proc, peer=peer)
            return result
        finally:
            proc.stop()
    finally:
        platform.stop()
