"""The public port's cost, side by side: the bare ASGI app against the QuartTrio app.

    PYTHONPATH=$PWD python -m bench.public_port_ab [--rounds 7] [--seconds 3] [--connections 4]

Every variant is a whole ``callvisor serve`` (``supervisor.commands.cli``, so hypercorn configured and
run exactly as ``supervisor/service.py`` does) in its own process, started together; only the
public app is swapped (``supervisor.service.create_public_app``).  The variants:

- ``bare``: ``supervisor/public_app.py`` as it was at ``--base`` (the bare ASGI class of ADR
  0008), read with ``git show`` into a module of its own;
- ``quart-plain``: the QuartTrio app without the tuning of ADR 0011 (kept here, below);
- ``quart``: ``supervisor/public_app.py`` of the working tree.

For each round, each variant in turn (order rotated per round) gets a closed loop of keep-alive
requests from this process (``--connections`` trio tasks, :mod:`bench.rawhttp`) for
``--seconds``: (a) ``GET /health``, (b) a signed ``realtime.call.ended`` webhook, which the
intake verifies, parses, logs and answers ``200 {"ok": true, "ignored": ...}``.  Measured: the
server process's CPU (user + system, psutil) per request, and the client's round-trip median.
Printed: per variant the median over rounds (min-max), and the ratios against ``bare``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import psutil
import trio

from bench import procs
from bench.rawhttp import Connection, build_request
from supervisor.testing import WebhookSigner, new_secret

BASE = "620bf4a"
VARIANTS = ("bare", "quart-plain", "quart")
ROUTES = ("health", "webhook")


# -- the server side: ``python -m bench.public_port_ab serve VARIANT BASE`` --------------------


def _bare_module(base: str) -> ModuleType:
    """``supervisor/public_app.py`` at ``base``, as ``supervisor._ab_bare_public_app``."""
    source = subprocess.run(
        ["git", "show", f"{base}:supervisor/public_app.py"], cwd=procs.ROOT, check=True, capture_output=True, text=True
    ).stdout
    spec = importlib.util.spec_from_loader("supervisor._ab_bare_public_app", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "supervisor"
    sys.modules[spec.name] = module
    exec(compile(source, f"{base}:supervisor/public_app.py", "exec"), module.__dict__)
    return module


def _plain_quart_app(intake: Any, supervisor: Any) -> Any:
    """The QuartTrio public app before ADR 0011's tuning (commit 56bed09).

    Every answer a dict through Quart's JSON provider (``app.json.response``), ``/health``
    encoded per request, and the answer sent inside quart-trio's ``RESPONSE_TIMEOUT`` scope
    plus a shielded one of its own: two cancel scopes where the tree has one.
    """
    import trio
    from quart import Response, request
    from quart_trio.asgi import TrioASGIHTTPConnection
    from werkzeug.exceptions import RequestEntityTooLarge

    from supervisor import json_app
    from supervisor.intake import MAX_BODY_BYTES
    from supervisor.public_app import WEBHOOK_HEADERS, _too_large

    class TwoScopes(TrioASGIHTTPConnection):
        async def _send_response(self, send: Any, response: Any) -> None:
            with trio.move_on_after(json_app.SEND_ANSWER_TIMEOUT_S, shield=True):
                await super()._send_response(send, response)

    app = json_app.create_json_app("callvisor.public")
    app.asgi_http_class = TwoScopes
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    def provider(status: int, payload: dict[str, Any]) -> Response:
        response = app.json.response(payload)
        response.status_code = status
        return response  # type: ignore[return-value]

    @app.post("/webhooks/openai")
    async def openai_webhook() -> Response:
        try:
            body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
        except RequestEntityTooLarge:
            return _too_large(intake)
        headers = {name: value for name in WEBHOOK_HEADERS if (value := request.headers.get(name)) is not None}
        status, payload = await intake.handle(body if isinstance(body, bytes) else body.encode(), headers)
        return provider(status, payload)

    @app.get("/health")
    async def health() -> Response:
        return provider(200, {
            "ok": True,
            "status": "draining" if supervisor.draining else "serving",
            "draining": supervisor.draining,
            "replica_id": supervisor.settings.replica_id,
        })

    return app


def serve(variant: str, base: str) -> int:
    import supervisor.service
    from supervisor.commands import cli

    if variant == "bare":
        supervisor.service.create_public_app = _bare_module(base).create_public_app  # type: ignore[attr-defined]
    elif variant == "quart-plain":
        supervisor.service.create_public_app = _plain_quart_app  # type: ignore[attr-defined]
    return cli.main(["serve"])


# -- the load side --------------------------------------------------------------------------------


async def _closed_loop(port: int, raw: bytes, connections: int, seconds: float) -> list[float]:
    """Round trips (s) of ``raw`` sent back to back on ``connections`` keep-alive connections."""
    trips: list[float] = []
    deadline = trio.current_time() + seconds

    async def one() -> None:
        connection = await Connection.open("127.0.0.1", port)
        try:
            while trio.current_time() < deadline:
                started = time.perf_counter()
                answer = await connection.request(raw)
                trips.append(time.perf_counter() - started)
                assert answer.status == 200, (answer.status, answer.body)
        finally:
            await connection.aclose()

    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(one)
    return trips


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _request(route: str, host: str, signer: WebhookSigner) -> bytes:
    if route == "health":
        return build_request("GET", "/health", host)
    body = json.dumps({"id": "evt_ab", "type": "realtime.call.ended", "data": {"call_id": "rtc_ab"}}).encode()
    # One delivery replayed: an ignored type claims no webhook-id, and the timestamp stays fresh
    # for the few minutes a run takes (tolerance 300 s).
    headers = {"Content-Type": "application/json", **signer.sign(body, webhook_id="wh_ab", timestamp=int(time.time()))}
    return build_request("POST", "/webhooks/openai", host, body=body, headers=headers)


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def measure(
    *, rounds: int = 7, seconds: float = 3.0, connections: int = 4, base: str = BASE,
    variants: tuple[str, ...] = VARIANTS,
) -> dict[str, Any]:
    """Run the side-by-side measurement (module docstring); the report ``make bench`` keeps."""
    secret = new_secret()
    signer = WebhookSigner(secret)
    urls = {"api_key": "sk-bench", "base_url": "http://127.0.0.1:9/v1", "realtime_url": "ws://127.0.0.1:9/v1/realtime"}
    results: dict[str, dict[str, dict[str, list[float]]]] = {
        v: {r: {"cpu_ms": [], "rtt_ms": [], "rps": []} for r in ROUTES} for v in variants
    }
    with tempfile.TemporaryDirectory(prefix="public_port_ab.") as tmp:
        run_dir = Path(tmp)
        servers: dict[str, tuple[procs.Proc, int]] = {}
        try:
            for variant in variants:
                proc, public, _admin = procs.start_service(
                    run_dir, urls, secret, procs.EXAMPLE_TENANTS, name=f"service-{variant}",
                    wrapper=procs.python("-m", "bench.public_port_ab", "serve", variant, base),
                )
                servers[variant] = proc, int(public.rpartition(":")[2])
            for round_ in range(rounds + 1):  # round 0 warms up and is not counted
                order = list(variants[round_ % len(variants):] + variants[: round_ % len(variants)])
                for route in ROUTES:
                    for variant in order:
                        proc, port = servers[variant]
                        raw = _request(route, f"127.0.0.1:{port}", signer)
                        before = _cpu_s(proc.ps)
                        started = time.perf_counter()
                        trips = trio.run(_closed_loop, port, raw, connections, seconds)
                        elapsed = time.perf_counter() - started
                        cpu = _cpu_s(proc.ps) - before
                        if round_ == 0:
                            continue
                        results[variant][route]["cpu_ms"].append(1000 * cpu / len(trips))
                        results[variant][route]["rtt_ms"].append(1000 * statistics.median(trips))
                        results[variant][route]["rps"].append(len(trips) / elapsed)
                print(f"[public-port] round {round_} done", file=sys.stderr, flush=True)
        finally:
            for proc, _port in servers.values():
                proc.popen.terminate()
                proc.popen.wait(timeout=10)
    return {
        "rounds": rounds, "seconds": seconds, "connections": connections, "base": base,
        "cpu_count": psutil.cpu_count(),
        "variants": {v: {r: {k: _summary(xs) for k, xs in m.items()} for r, m in rs.items()} for v, rs in results.items()},
    }


def section(report: dict[str, Any] | None) -> list[str]:
    """The benchmarks page's section on the public port's app (ADR 0011)."""
    if not report:
        return []
    variants = report["variants"]
    lines = [
        "## The public port: QuartTrio against the bare ASGI app",
        "",
        "Issue 10 put the public port back on QuartTrio (ADR 0011). `bench/public_port_ab.py` measured, in this run,",
        "three whole `callvisor serve` processes differing only in the public app: `bare` (the ASGI class of ADR 0008,",
        f"`supervisor/public_app.py` at {report['base']}), `quart-plain` (QuartTrio without ADR 0011's tuning) and",
        f"`quart` (the app shipped). {report['rounds']} rounds, each giving each variant {report['seconds']:g} s of closed-loop",
        f"keep-alive requests on {report['connections']} connections, order rotated; medians (min-max) over rounds.",
        "",
        "| route | variant | server CPU per request | round trip median | req/s | CPU vs bare |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for route in ROUTES:
        bare = variants.get("bare", {}).get(route)
        for variant, routes in variants.items():
            s = routes[route]
            ratio = f"x{s['cpu_ms']['median'] / bare['cpu_ms']['median']:.2f}" if bare else ""
            lines.append(
                f"| {route} | {variant} | {s['cpu_ms']['median']:.3f} ms ({s['cpu_ms']['min']:.3f}-{s['cpu_ms']['max']:.3f})"
                f" | {s['rtt_ms']['median']:.2f} ms | {s['rps']['median']:.0f} | {ratio} |"
            )
    lines += [
        "",
        "Quart's extra is a fixed cost per request (contexts, URL matching, werkzeug headers, two tasks). What was",
        "done to win it back: on the request path, one JSON encoder and one send scope per answer (`quart-plain` ->",
        "`quart`); elsewhere on the call path, each call's sideband resumes the TLS session of the one before it",
        "(`actors.tls.TlsSessions`), which saves about as much client CPU per call as Quart adds to its webhook",
        "(\"One TLS connection, alone\": full against resumed; ADR 0011).",
        "",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--base", default=BASE, help="the commit whose public_app.py is the bare app")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args(argv)
    report = measure(
        rounds=args.rounds, seconds=args.seconds, connections=args.connections, base=args.base,
        variants=tuple(args.variants.split(",")),
    )
    print(json.dumps(report, indent=1))
    print("\n".join(section(report)))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        sys.exit(serve(sys.argv[2], sys.argv[3]))
    sys.exit(main(sys.argv[1:]))
