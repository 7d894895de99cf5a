"""``python -m bench.soak`` (``make soak``): ``callvisor serve`` at capacity for minutes, watched for growth.

::

    python -m bench.soak                        600 s (SOAK_SECONDS), 50 slots (SOAK_CAPACITY)
    python -m bench.soak --seconds 60 --warmup 20 --capacity 10 --out /tmp/soak   a short one
    python -m bench.soak --tracemalloc          also diff the child's allocations (slower)
    python -m bench.soak --gc-full-every 0 --label production-gc   the production collector cadence

The real ``callvisor serve`` runs as a child process (through :mod:`bench.soak_child`, which
lowers the dedup ledgers' bound so that they are full within the warm-up) against the simulated
OpenAI platform over TLS, served by this process beside the load (:mod:`bench.soak_load`).  The
run goes:

1. an idle sample; then load for ``--warmup`` seconds at least (the ledgers fill, pools and
   caches grow to their working size) and until the child has run ``--warmup-collections`` full
   garbage collections (``--max-warmup`` at most; ``--gc-full-every`` sets their cadence), after
   which the memory the calls leave in reference cycles is reused;
2. a **quiesce**: no new calls, every call ends, the load's connections close; the idle sample
   taken then is the **baseline**;
3. load until ``--seconds`` from the start, sampled every ``--interval`` seconds;
4. a second quiesce, the **end** sample, then SIGTERM and the exit status.

:mod:`bench.soak_verdict` judges the samples; the run writes ``OUT/benchmarks/soak.json`` and
``OUT/benchmarks/soak.png``, re-renders ``OUT/benchmarks.md`` (its Soak section comes from
soak.json) when ``OUT/benchmarks/results.json`` exists, prints a summary and exits 1 when a check
failed.  Every wait has a deadline; the child's logs stay in the printed run directory.
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import trio
import yaml
from hypercorn.config import Config
from hypercorn.trio import serve

from bench import soak_report
from bench.platform import BenchPlatform, create_control_app
from bench.procs import BENCH_NUMBER, ROOT, MachineWatch, python, start_service, write_tenants
from bench.soak_load import Load
from bench.soak_memory import top_growth
from bench.soak_sample import AdminReader, connections, lingering, port_of, sample
from bench.soak_verdict import judge, warmup_growth
from bench.sysinfo import machine, raise_fd_limit
from supervisor.testing import WebhookSigner, serve_platform

QUIESCE_TIMEOUT_S = 60.0
#: Load kept on after the warm-up's full garbage collection, before the baseline.
GC_MARGIN_S = 20.0
SETTLE_S = 2.0
#: How long a quiesce waits for the server side of the connections the load closed to go
#: (hypercorn's keep-alive timeout is 30 s).
LINGER_TIMEOUT_S = 45.0
STOP_TIMEOUT_S = 30.0
#: A number no tenant owns, and a broken tenant of the example file (its config does not parse).
UNKNOWN_NUMBER = "+18005550000"
BROKEN_TENANT = "initech"


@attrs.frozen(kw_only=True)
class Options:
    seconds: float
    warmup_s: float
    max_warmup_s: float
    capacity: int
    interval_s: float
    ledger_entries: int
    tracemalloc: bool
    plaintext: bool
    gc_full_every: int
    warmup_collections: int
    label: str
    seed: int
    out: Path


async def _serve_tool(platform: BenchPlatform, nursery: trio.Nursery) -> str:
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.errorlog = logging.getLogger("bench.soak.tool")
    binds = await nursery.start(partial(serve, create_control_app(platform), config))
    return f"{binds[0]}/tool"


def _other_numbers(tenants: Path) -> list[str]:
    data = yaml.safe_load(tenants.read_text())
    broken = [n for t in data["tenants"] if t["id"] == BROKEN_TENANT for n in t["phone_numbers"]]
    return [UNKNOWN_NUMBER, *broken]


class Soak:
    """One run: the platform, the child, the load, the samples."""

    def __init__(self, opts: Options, run_dir: Path) -> None:
        self.opts = opts
        self.run_dir = run_dir
        self.platform = BenchPlatform(tls=not opts.plaintext)
        self.samples: list[dict[str, Any]] = []
        self.phase = "warmup"
        self.started = 0.0
        self.snapshots: list[Path] = []

    async def run(self) -> dict[str, Any]:
        opts = self.opts
        bundle: Path | None = None
        if self.platform.tls is not None:
            bundle = self.platform.tls.write_trust_bundle(self.run_dir / "trust-bundle.pem")
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(serve_platform, self.platform))
            tenants = write_tenants(self.run_dir, await _serve_tool(self.platform, nursery))
            urls = {
                "api_key": self.platform.api_key, "base_url": self.platform.base_url,
                "realtime_url": self.platform.realtime_url, "trust_bundle": None if bundle is None else str(bundle),
            }
            env = {"MAX_CONCURRENT_CALLS": str(opts.capacity), "SOAK_LEDGER_MAX_ENTRIES": str(opts.ledger_entries)}
            if opts.gc_full_every:
                env["SOAK_GC_FULL_EVERY"] = str(opts.gc_full_every)
            if opts.tracemalloc:
                env["SOAK_TRACEMALLOC"] = str(self.run_dir / "tracemalloc")
            proc, public, admin = await trio.to_thread.run_sync(partial(
                start_service, self.run_dir, urls, secret, tenants, env=env,
                wrapper=python("-m", "bench.soak_child"),
            ))
            self.proc = proc
            self.admin_port = port_of(admin)
            self.admin = AdminReader(self.admin_port)
            self.ports = {
                "public": port_of(public), "admin": self.admin_port, "rest": port_of(self.platform.base_url),
                "sideband": port_of(self.platform.realtime_url), "tool": port_of(urls_tool(tenants)),
            }
            self.load = Load(
                self.platform, WebhookSigner(secret), public_port=self.ports["public"], admin_port=self.admin_port,
                capacity=opts.capacity, number=BENCH_NUMBER, other_numbers=_other_numbers(tenants), seed=opts.seed,
            )
            try:
                result = await self._phases(nursery)
            finally:
                result_code = await trio.to_thread.run_sync(proc.stop, STOP_TIMEOUT_S)
                nursery.cancel_scope.cancel()
        result["exit_status"] = result_code
        return result

    async def _phases(self, nursery: trio.Nursery) -> dict[str, Any]:
        opts, load = self.opts, self.load
        self.started = trio.current_time()
        idle = await self._idle_sample("start")
        await load.open_pools()
        async with trio.open_nursery() as work:
            work.start_soon(load.run_placing, work)
            work.start_soon(load.run_blips, self.started)
            work.start_soon(self._run_sampler)
            load.placing = True
            await trio.sleep(opts.warmup_s)
            await self._until_full_collection()
            baseline = await self._quiesce("baseline")
            self.phase = "load"
            load.placing = True
            await trio.sleep_until(self.started + opts.seconds)
            end = await self._quiesce("end")
            work.cancel_scope.cancel()
        return {"idle_start": idle, "baseline": baseline, "end": end, "warmup_ended_s": baseline["t"] - baseline["quiesce_s"]}

    async def _until_full_collection(self) -> None:
        """Go on with the warm-up until the child's garbage collector has run
        ``warmup_collections`` full collections (plus ``GC_MARGIN_S``), at most until
        ``max_warmup_s``.

        Until a full collection, whatever the calls left in reference cycles accumulates and RSS
        climbs; the memory it frees is reused by the next cycle's garbage, and RSS levels off at
        a working size once a cycle's garbage fits in what the previous one freed.
        """
        first = next((s["gc_full"] for s in self.samples if s.get("gc_full") is not None), None)
        deadline = self.started + self.opts.max_warmup_s
        while trio.current_time() < deadline:
            latest = next((s["gc_full"] for s in reversed(self.samples) if s.get("gc_full") is not None), None)
            if first is not None and latest is not None and latest - first >= self.opts.warmup_collections:
                await trio.sleep(min(GC_MARGIN_S, max(deadline - trio.current_time(), 0)))
                return
            await trio.sleep(self.opts.interval_s)

    async def _run_sampler(self) -> None:
        while True:
            self.samples.append(await self._sample(self.phase))
            await trio.sleep(self.opts.interval_s)

    async def _sample(self, phase: str) -> dict[str, Any]:
        return await sample(self.proc.ps, self.load, self.platform, self.admin, self.started, phase)

    async def _idle_sample(self, label: str) -> dict[str, Any]:
        idle = await self._sample(label)
        idle["connections"] = connections(self.proc.ps, self.ports)
        return idle

    async def _quiesce(self, label: str) -> dict[str, Any]:
        """No new calls; every call ends (the platform hangs up what is left after the timeout)."""
        load = self.load
        load.placing = False
        self.phase = "quiesce"
        began = trio.current_time()
        hung_up = 0
        if not await load.wait_idle(QUIESCE_TIMEOUT_S):
            hung_up = await self.platform.hangup_all()
            await load.wait_idle(QUIESCE_TIMEOUT_S)
        with trio.move_on_after(QUIESCE_TIMEOUT_S):
            while True:
                now = await self._sample("quiesce")
                if not (now.get("calls") or now.get("capacity_used") or now.get("sidebands")):
                    break
                await trio.sleep(0.5)
        await load.close_pools()
        closed = trio.current_time()
        # The server keeps a connection its client closed for up to its keep-alive timeout.
        with trio.move_on_after(LINGER_TIMEOUT_S):
            while lingering(connections(self.proc.ps, self.ports)):  # noqa: ASYNC110 (another process's sockets)
                await trio.sleep(0.5)
        await trio.sleep(SETTLE_S)
        idle = await self._idle_sample(label)
        idle["quiesce_s"] = round(trio.current_time() - began, 1)
        idle["closed_connections_lingered_s"] = round(trio.current_time() - closed - SETTLE_S, 1)
        idle["hung_up_by_platform"] = hung_up
        if self.opts.tracemalloc:
            idle["snapshot"] = await self._snapshot()
        await load.open_pools()
        return idle

    async def _snapshot(self) -> str | None:
        folder = self.run_dir / "tracemalloc"
        before = len(self.snapshots)
        os.kill(self.proc.popen.pid, signal.SIGUSR1)
        path = folder / f"snapshot-{before + 1:02d}.tracemalloc"
        with trio.move_on_after(60):
            # The child writes the file; another process's file is all there is to wait on.
            while not ((folder / "taken").exists() and int((folder / "taken").read_text() or 0) > before):  # noqa: ASYNC110
                await trio.sleep(0.2)
            self.snapshots.append(path)
            return str(path)
        return None


def urls_tool(tenants: Path) -> str:
    data = yaml.safe_load(tenants.read_text())
    bench = next(t for t in data["tenants"] if t["id"] == "bench")
    return str(next(tool["url"] for tool in bench["config"]["tools"] if tool["kind"] == "http"))


def _options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    env = os.environ.get
    parser.add_argument("--seconds", type=float, default=float(env("SOAK_SECONDS") or 600), help="length of the run (SOAK_SECONDS, default 600)")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds of load before the baseline at least (the ledgers fill); then on until the child's first full garbage collection")
    parser.add_argument("--max-warmup", type=float, default=None, help="seconds of warm-up at most (default: 60%% of --seconds)")
    parser.add_argument("--capacity", type=int, default=int(env("SOAK_CAPACITY") or 50), help="MAX_CONCURRENT_CALLS (SOAK_CAPACITY, default 50)")
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between samples")
    parser.add_argument("--ledger-entries", type=int, default=500, help="the dedup ledgers' bound in the child (production: 100000; default 500, full within the warm-up)")
    parser.add_argument("--tracemalloc", action="store_true", default=bool(env("SOAK_TRACEMALLOC")), help="trace the child's allocations and diff baseline and end (SOAK_TRACEMALLOC=1)")
    parser.add_argument("--gc-full-every", type=int, default=120, help="young collections per full one in the child (production 600, about 5 minutes; default 120, one a minute; 0: production)")
    parser.add_argument("--warmup-collections", type=int, default=2, help="full collections the warm-up waits for (default 2)")
    parser.add_argument("--label", default="", help="write soak-LABEL.json and .png beside soak.json: a companion run the page shows after the main one")
    parser.add_argument("--plaintext", action="store_true", help="http and ws to the platform instead of https and wss (to compare)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder of benchmarks.md (default docs/)")
    args = parser.parse_args(argv)
    warmup = args.warmup
    max_warmup = args.max_warmup if args.max_warmup is not None else max(warmup, 0.6 * args.seconds)
    if max_warmup >= args.seconds or warmup > max_warmup:
        parser.error("--warmup <= --max-warmup < --seconds, please")
    return Options(
        seconds=args.seconds, warmup_s=warmup, max_warmup_s=max_warmup, capacity=args.capacity, interval_s=args.interval,
        ledger_entries=args.ledger_entries, tracemalloc=args.tracemalloc, plaintext=args.plaintext, seed=args.seed,
        gc_full_every=args.gc_full_every, warmup_collections=args.warmup_collections, label=args.label, out=args.out,
    )


def _commit() -> str | None:
    """The checked-out commit measured (``+`` when the tree has changes)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")


def main(argv: list[str] | None = None) -> int:
    opts = _options(argv)
    raise_fd_limit()
    run_dir = Path(tempfile.mkdtemp(prefix="callvisor-soak-"))
    print(f"soak: {opts.seconds:g} s at {opts.capacity} slots; process logs in {run_dir}", flush=True)
    soak = Soak(opts, run_dir)
    wall = time.monotonic()
    with MachineWatch() as watch:
        phases = trio.run(soak.run)
        foreign = watch.foreign(wall, time.monotonic())
    health = soak_report.health(soak.proc, phases["exit_status"], soak.load)
    verdict = judge(soak.samples, phases["baseline"], phases["end"], opts.capacity, health, opts.ledger_entries)
    result = {
        "commit": _commit(),
        "settings": {**attrs.asdict(opts), "out": str(opts.out)},
        "machine": machine(),
        "foreign_load": foreign,
        **phases,
        "load": soak_report.load_summary(soak.load),
        "events": soak_report.events(soak.proc),
        "verdict": verdict,
        "warmup_growth": warmup_growth(soak.samples),
        "memory_growth": top_growth(soak.snapshots) if opts.tracemalloc else None,
        "samples": soak.samples,
        "run_dir": str(run_dir),
        "wall_s": round(time.monotonic() - wall, 1),
    }
    for path in soak_report.write(result, opts.out, opts.label):
        print(path)
    print(soak_report.summary(result))
    return 0 if verdict["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
