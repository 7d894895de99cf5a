"""The load generator: a process of its own, speaking raw HTTP/1.1 keep-alive.

``python -m bench.loadgen MODE --port PORT ...`` runs one bounded measurement and prints one
JSON document on stdout.  Modes:

* ``ceiling``: closed loop, ``--connections`` connections each sending ``GET --path`` back to
  back for ``--duration`` seconds: the server's ceiling on an empty route.
* ``sequential``: one connection, ``--count`` signed webhooks one after the other: the round
  trip of a lone webhook.
* ``steps``: open loop on a fixed schedule: for each rate of ``--rates`` (webhooks/s), send
  ``rate * --duration`` signed webhooks at evenly spaced instants over a pool of
  ``--connections`` connections.  Latency counts from the scheduled instant, so time spent
  waiting for a free connection (the server falling behind) is in it.  Stops after the first
  step that had errors, a p99 above ``--p99-limit-ms`` or a throughput under 95% of the
  offered rate.  ``--count`` instead of a duration places exactly that many calls at one rate.
* ``burst``: ``--count`` connections opened first, then one webhook sent on each at the same
  instant.

``--runtime live`` sends GPT-Live's ``live.transport.incoming`` (ids ``live_...``) instead of
``realtime.call.incoming`` (``rtc_...``), for a Live tenant's number.

Webhook bodies are built and signed before the clock starts, so signing costs nothing in the
measured loop.  Every wait is bounded (``--timeout`` per answer; a step is abandoned
``STEP_GRACE_S`` after its last scheduled send).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from functools import partial
from typing import Any

import trio

from bench.rawhttp import Answer, Connection, ConnectionLost, build_request
from bench.stats import summary_ms
from supervisor.testing import WebhookSigner, incoming_call_event, live_incoming_event

HOST = "127.0.0.1"
STEP_GRACE_S = 15.0
#: A step whose dispatcher falls this far behind its schedule is abandoned (latency exploded).
MAX_LAG_S = 5.0


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Webhooks:
    """Signed ``realtime.call.incoming`` (or ``live.transport.incoming``) requests, prepared ahead of time."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.signer = WebhookSigner(args.secret)
        self.host = f"{HOST}:{args.port}"
        self.path = args.webhook_path
        self.to = args.to
        self.live = args.runtime == "live"
        #: What every call_id starts with, before the prefix.
        self.id_prefix = "live" if self.live else "rtc"

    def build(self, prefix: str, count: int, start: int = 0) -> list[tuple[str, bytes]]:
        now = int(time.time())
        built = []
        for index in range(start, start + count):
            call_id = f"{self.id_prefix}_{prefix}_{index:06d}"
            to = f"sip:{self.to}@sip.example.com"
            event = live_incoming_event(call_id, to=to) if self.live else incoming_call_event(call_id, to=to)
            body = json.dumps(event).encode()
            headers = self.signer.sign(body, webhook_id=f"wh_{self.id_prefix}_{prefix}_{index:06d}", timestamp=now)
            headers["Content-Type"] = "application/json"
            built.append((call_id, build_request("POST", self.path, self.host, body=body, headers=headers)))
        return built


def classify(answer: Answer) -> str:
    """``accepted``, ``rejected:REASON``, ``ok`` (a 200 without a callvisor body) or ``http_NNN``."""
    if answer.status != 200:
        return f"http_{answer.status}"
    if not answer.body:
        return "ok"
    try:
        payload = json.loads(answer.body)
    except ValueError:
        return "ok"
    if isinstance(payload, dict):
        if "accepted" in payload:
            return "accepted"
        if "rejected" in payload:
            return f"rejected:{payload['rejected']}"
        if payload.get("duplicate"):
            return "duplicate"
    return "ok"


class Pool:
    """Keep-alive connections to one port; reopened when the server closes one."""

    def __init__(self, port: int, size: int) -> None:
        self.port = port
        self.size = size
        self.reconnects = 0
        self._send, self._receive = trio.open_memory_channel[Connection](size)

    async def fill(self) -> None:
        for _ in range(self.size):
            self._send.send_nowait(await Connection.open(HOST, self.port))

    async def take(self) -> Connection:
        return await self._receive.receive()

    def give(self, conn: Connection) -> None:
        self._send.send_nowait(conn)

    async def replace(self, conn: Connection) -> Connection:
        await conn.aclose()
        self.reconnects += 1
        return await Connection.open(HOST, self.port)

    async def close(self) -> None:
        while True:
            try:
                conn = self._receive.receive_nowait()
            except trio.WouldBlock:
                return
            await conn.aclose()


async def exchange(pool: Pool, conn: Connection, raw: bytes, timeout_s: float) -> tuple[Answer | None, str, Connection]:
    """Send one request, resending once on a fresh connection if the idle one was closed."""
    for attempt in (1, 2):
        try:
            with trio.fail_after(timeout_s):
                answer = await conn.request(raw)
        except ConnectionLost as lost:
            conn = await pool.replace(conn)
            if lost.partial or attempt == 2:
                return None, "connection_lost", conn
            continue
        except trio.TooSlowError:
            return None, "timeout", await pool.replace(conn)
        if answer.close:
            conn = await pool.replace(conn)
        return answer, classify(answer), conn
    raise AssertionError("unreachable")


async def run_step(args: argparse.Namespace, hooks: Webhooks, rate: float, count: int, prefix: str, start: int) -> dict[str, Any]:
    prepared = hooks.build(prefix, count, start)
    pool = Pool(args.port, args.connections)
    await pool.fill()
    latencies: list[float] = []
    service: list[float] = []
    outcomes: dict[str, int] = {}
    last_done = 0.0
    max_lag = 0.0
    abandoned = False
    cpu_before = _cpu_s()

    async def one(conn: Connection, raw: bytes, scheduled: float) -> None:
        nonlocal last_done
        sent = trio.current_time()
        answer, outcome, conn = await exchange(pool, conn, raw, args.timeout)
        done = trio.current_time()
        pool.give(conn)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if answer is not None and answer.status == 200:
            latencies.append(done - scheduled)
            service.append(done - sent)
        last_done = max(last_done, done)

    t0 = trio.current_time() + 0.2
    with trio.move_on_after(count / rate + 0.2 + STEP_GRACE_S):
        async with trio.open_nursery() as nursery:
            for index, (_call_id, raw) in enumerate(prepared):
                scheduled = t0 + index / rate
                await trio.sleep_until(scheduled)
                conn = await pool.take()
                lag = trio.current_time() - scheduled
                max_lag = max(max_lag, lag)
                if lag > args.max_lag:
                    pool.give(conn)
                    abandoned = True
                    break
                nursery.start_soon(one, conn, raw, scheduled)
    cpu = _cpu_s() - cpu_before
    await pool.close()
    completed = sum(outcomes.values())
    wall = max(last_done - t0, 1e-9)
    good = len(latencies)
    errors = completed - sum(n for k, n in outcomes.items() if k in ("accepted", "ok") or k.startswith("rejected"))
    result = {
        "offered_per_s": rate,
        "scheduled": count,
        "completed": completed,
        "unanswered": count - completed,
        "outcomes": outcomes,
        "errors": errors + (count - completed),
        "achieved_per_s": round(good / wall, 2),
        "wall_s": round(wall, 3),
        "round_trip": summary_ms(latencies),
        "service_time": summary_ms(service),
        "max_dispatch_lag_ms": round(max_lag * 1000, 2),
        "abandoned": abandoned,
        "reconnects": pool.reconnects,
        "loadgen_cpu_s": round(cpu, 3),
        "call_id_prefix": f"{hooks.id_prefix}_{prefix}_",
    }
    return result


def step_ok(step: dict[str, Any], p99_limit_ms: float) -> bool:
    return (
        not step["abandoned"]
        and step["errors"] == 0
        and step["round_trip"]["p99_ms"] <= p99_limit_ms
        and step["achieved_per_s"] >= 0.95 * step["offered_per_s"]
    )


async def steps(args: argparse.Namespace) -> dict[str, Any]:
    hooks = Webhooks(args)
    results = []
    start = args.start
    for rate in args.rates:
        count = args.count or max(1, int(rate * args.duration))
        prefix = f"{args.prefix}{int(rate)}"
        step = await run_step(args, hooks, rate, count, prefix, start)
        start += count
        step["ok"] = step_ok(step, args.p99_limit_ms)
        results.append(step)
        print(
            f"loadgen: {rate:g}/s -> {step['achieved_per_s']}/s p99 {step['round_trip']['p99_ms']} ms "
            f"errors {step['errors']}", file=sys.stderr, flush=True,
        )
        if not step["ok"] and not args.no_stop:
            break
        if args.pause:
            await trio.sleep(args.pause)
    return {"mode": "steps", "steps": results}


async def ceiling(args: argparse.Namespace) -> dict[str, Any]:
    raw = build_request("GET", args.path, f"{HOST}:{args.port}")
    pool = Pool(args.port, args.connections)
    await pool.fill()
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    cpu_before = _cpu_s()

    async def loop(deadline: float) -> None:
        conn = await pool.take()
        while trio.current_time() < deadline:
            sent = trio.current_time()
            answer, outcome, conn = await exchange(pool, conn, raw, args.timeout)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if answer is not None and answer.status == 200:
                latencies.append(trio.current_time() - sent)
        pool.give(conn)

    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        for _ in range(args.connections):
            nursery.start_soon(loop, started + args.duration)
    wall = trio.current_time() - started
    await pool.close()
    return {
        "mode": "ceiling",
        "path": args.path,
        "connections": args.connections,
        "requests_per_s": round(len(latencies) / wall, 2),
        "outcomes": outcomes,
        "latency": summary_ms(latencies),
        "reconnects": pool.reconnects,
        "loadgen_cpu_s": round(_cpu_s() - cpu_before, 3),
        "wall_s": round(wall, 3),
    }


async def sequential(args: argparse.Namespace) -> dict[str, Any]:
    hooks = Webhooks(args)
    prepared = hooks.build(args.prefix, args.count, args.start)
    pool = Pool(args.port, 1)
    await pool.fill()
    conn = await pool.take()
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    for _call_id, raw in prepared:
        sent = trio.current_time()
        answer, outcome, conn = await exchange(pool, conn, raw, args.timeout)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if answer is not None and answer.status == 200:
            latencies.append(trio.current_time() - sent)
        if args.gap_ms:
            await trio.sleep(args.gap_ms / 1000)
    await conn.aclose()
    return {
        "mode": "sequential",
        "outcomes": outcomes,
        "round_trip": summary_ms(latencies),
        "samples_ms": [round(s * 1000, 3) for s in latencies],
        "call_id_prefix": f"{hooks.id_prefix}_{args.prefix}_",
    }


async def burst(args: argparse.Namespace) -> dict[str, Any]:
    hooks = Webhooks(args)
    prepared = hooks.build(args.prefix, args.count, args.start)
    conns: list[Connection] = []
    connect_started = trio.current_time()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            async def connect() -> None:
                conns.append(await Connection.open(HOST, args.port))

            for _ in prepared:
                nursery.start_soon(connect)
    connect_s = trio.current_time() - connect_started
    outcomes: dict[str, int] = {}
    latencies: list[float] = []
    go = trio.Event()
    all_ready = trio.Event()
    ready = 0

    async def fire(conn: Connection, raw: bytes) -> None:
        nonlocal ready
        ready += 1
        if ready == len(conns):
            all_ready.set()
        await go.wait()
        sent = trio.current_time()
        try:
            with trio.fail_after(args.timeout):
                answer = await conn.request(raw)
            outcome = classify(answer)
        except (ConnectionLost, trio.TooSlowError) as exc:
            outcome = type(exc).__name__
        else:
            latencies.append(trio.current_time() - sent)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        await conn.aclose()

    async with trio.open_nursery() as nursery:
        for conn, (_call_id, raw) in zip(conns, prepared, strict=True):
            nursery.start_soon(fire, conn, raw)
        await all_ready.wait()
        started = trio.current_time()
        go.set()
    return {
        "mode": "burst",
        "count": args.count,
        "connect_s": round(connect_s, 3),
        "decide_all_s": round(trio.current_time() - started, 3),
        "outcomes": outcomes,
        "round_trip": summary_ms(latencies),
        "call_id_prefix": f"{hooks.id_prefix}_{args.prefix}_",
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("mode", choices=["ceiling", "sequential", "steps", "burst"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", default="")
    parser.add_argument("--webhook-path", default="/webhooks/openai")
    parser.add_argument("--path", default="/health", help="route of the ceiling mode")
    parser.add_argument("--to", default="+18005551212", help="dialed number")
    parser.add_argument(
        "--runtime", choices=["realtime", "live"], default="realtime",
        help="the webhook sent: realtime.call.incoming or live.transport.incoming",
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rates", type=float, nargs="*", default=[])
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--prefix", default="b")
    parser.add_argument("--p99-limit-ms", type=float, default=200.0)
    parser.add_argument("--no-stop", action="store_true")
    parser.add_argument("--pause", type=float, default=0.0)
    parser.add_argument("--gap-ms", type=float, default=0.0)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument(
        "--max-lag", type=float, default=MAX_LAG_S,
        help="abandon a step whose sender falls this many seconds behind its schedule",
    )
    return parser


def main() -> None:
    args = _parser().parse_args()
    if args.mode in ("sequential", "steps", "burst") and not args.secret:
        raise SystemExit("--secret is required to sign webhooks")
    runner = {"ceiling": ceiling, "sequential": sequential, "steps": steps, "burst": burst}[args.mode]
    result = trio.run(partial(runner, args))
    json.dump(result, sys.stdout, allow_nan=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
