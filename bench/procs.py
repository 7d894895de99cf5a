"""Starting, watching and stopping the processes of a benchmark.

Every component runs in its own process on loopback ports: ``callvisor serve``, the simulated
platform (:mod:`bench.platform`), the peer (:mod:`bench.peer`) and, for each measurement, the
load generator (:mod:`bench.loadgen`).  Their output goes to files in the run directory and is
read after the fact, so that reading logs costs the measured processes nothing.  Every wait
here has a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_TENANTS = ROOT / "config" / "examples" / "tenants.yaml"
#: The number the bench tenant answers (a copy of acme-corp without a concurrency limit).
BENCH_NUMBER = "+18005550199"
#: The number of ``bench-live``: the bench tenant on GPT-Live (``runtime: live``), same prompts and tools.
BENCH_LIVE_NUMBER = "+18005550198"
START_TIMEOUT_S = 60.0


class Proc:
    """One child process, its output files and its psutil handle."""

    def __init__(self, name: str, args: Sequence[str], run_dir: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.stdout_path = run_dir / f"{name}.out"
        self.stderr_path = run_dir / f"{name}.err"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.popen = subprocess.Popen(
                list(args), cwd=ROOT, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
            )
        self.ps = psutil.Process(self.popen.pid)

    def first_json_line(self, path: Path | None = None, *, contains: str = "", timeout_s: float = START_TIMEOUT_S) -> dict[str, Any]:
        """The first JSON line of stdout (or ``path``) that contains ``contains``."""
        path = path or self.stdout_path
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}: {self.tail()}")
            for line in path.read_text(errors="replace").splitlines():
                if contains in line and line.startswith("{"):
                    try:
                        return dict(json.loads(line))
                    except ValueError:
                        continue
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} did not start within {timeout_s:g} s: {self.tail()}")

    def tail(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-2000:]

    def stop(self, timeout_s: float = 20.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode

    def cpu_s(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def start_platform(run_dir: Path, name: str = "platform", *, tls: bool = True) -> tuple[Proc, dict[str, Any]]:
    """The bench platform; with ``tls`` (the default) over https and wss, its trust bundle (the
    system CA bundle plus the platform's test CA) written to the run directory, its path in
    ``urls["trust_bundle"]``."""
    args = python("-m", "bench.platform")
    if tls:
        args += ["--tls", "--trust-bundle", str(run_dir / f"{name}-trust-bundle.pem")]
    proc = Proc(name, args, run_dir)
    urls = proc.first_json_line()
    if urls.get("trust_bundle"):
        urls["trust_bundle_certs"] = Path(urls["trust_bundle"]).read_text().count("BEGIN CERTIFICATE")
    return proc, urls


def trust_env(urls: dict[str, Any]) -> dict[str, str]:
    """``SSL_CERT_FILE`` naming the platform's trust bundle when it serves TLS, else nothing
    (a plaintext run makes no TLS connection, so it needs no trust store)."""
    bundle = urls.get("trust_bundle")
    return {"SSL_CERT_FILE": str(bundle)} if bundle else {}


def write_tenants(run_dir: Path, tool_url: str) -> Path:
    """The example tenants plus ``bench``: acme-corp's prompts, no concurrency limit, and an
    http tool answered by the bench platform; and ``bench-live``, the same on GPT-Live."""
    tenants = yaml.safe_load(EXAMPLE_TENANTS.read_text())
    acme = next(t for t in tenants["tenants"] if t["id"] == "acme-corp")
    bench = json.loads(json.dumps(acme))
    bench["id"] = "bench"
    bench["phone_numbers"] = [BENCH_NUMBER]
    bench["config"]["limits"] = {"max_call_duration_s": 7200}
    for tool in bench["config"]["tools"]:
        if tool["kind"] == "http":
            tool["url"] = tool_url
    live = json.loads(json.dumps(bench))
    live["id"] = "bench-live"
    live["phone_numbers"] = [BENCH_LIVE_NUMBER]
    live["config"].update({"runtime": "live", "model": "gpt-live-1"})
    tenants["tenants"] += [bench, live]
    path = run_dir / "tenants.yaml"
    path.write_text(yaml.safe_dump(tenants, sort_keys=False))
    return path


def start_service(
    run_dir: Path, urls: dict[str, Any], secret: str, tenants: Path, *, name: str = "service",
    env: dict[str, str] | None = None, wrapper: Sequence[str] = (),
) -> tuple[Proc, str, str]:
    """``callvisor serve`` against the platform; returns (proc, public url, admin url)."""
    environment = {
        "OPENAI_API_KEY": urls["api_key"],
        "OPENAI_WEBHOOK_SECRET": secret,
        "OPENAI_BASE_URL": urls["base_url"],
        "OPENAI_REALTIME_URL": urls["realtime_url"],
        "OPENAI_LIVE_URL": urls["live_url"],
        "CALLVISOR_TENANTS_FILE": str(tenants),
        "CALLVISOR_HTTP": "127.0.0.1:0",
        "CALLVISOR_ADMIN": "127.0.0.1:0",
        "CALLVISOR_TOOL_ALLOWED_HOSTS": "tools.acme.example 127.0.0.1",
        "CALLVISOR_TOOL_ALLOW_HTTP": "1",
        "CALLVISOR_DRAIN_GRACE_S": "1",
        "MAX_CONCURRENT_CALLS": "20000",
        "LOG_LEVEL": "INFO",
        **trust_env(urls),
        **(env or {}),
    }
    command = [*wrapper] if wrapper else python("-m", "supervisor.commands.cli")
    proc = Proc(name, [*command, "serve"], run_dir, environment)
    started = proc.first_json_line(proc.stderr_path, contains='"service_started"')
    return proc, started["public"], started["admin"]


def start_peer(run_dir: Path, urls: dict[str, Any], secret: str, name: str = "peer") -> tuple[Proc, int]:
    environment = {
        "OPENAI_API_KEY": urls["api_key"],
        "OPENAI_WEBHOOK_SECRET": secret,
        "OPENAI_BASE_URL": urls["base_url"],
        "PEER_REALTIME_URL": urls["realtime_url"],
        "OPENAI_AGENTS_DISABLE_TRACING": "1",
        # The openai SDK (httpx2/httpcore2) and websockets (asyncio's default context, loaded per
        # connection through OpenSSL's default paths) both read it; see bench/peer/server.py.
        **trust_env(urls),
    }
    proc = Proc(name, python("-m", "bench.peer"), run_dir, environment)
    port = int(proc.first_json_line(contains='"port"')["port"])
    # uvicorn prints nothing on stdout when ready: wait for the route to answer.
    wait_http(f"http://127.0.0.1:{port}/")
    return proc, port


def wait_http(url: str, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout_s:g} s")


def loadgen(*args: str, timeout_s: float = 600.0) -> dict[str, Any]:
    """Run the load generator to completion and return its JSON result."""
    done = subprocess.run(
        python("-m", "bench.loadgen", *args), cwd=ROOT, capture_output=True, timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"loadgen {args[0]} failed: {done.stderr.decode()[-3000:]}")
    return dict(json.loads(done.stdout))


def get_json(url: str, timeout_s: float = 30.0) -> Any:
    return httpx.get(url, timeout=timeout_s).json()


def post_json(url: str, body: dict[str, Any] | None = None, timeout_s: float = 90.0) -> Any:
    return httpx.post(url, json=body or {}, timeout=timeout_s).json()


def memory_available() -> int:
    """Bytes of memory the machine can still give (``MemAvailable``)."""
    return int(psutil.virtual_memory().available)


def background_cores(seconds: float = 3.0) -> float:
    """How many cores the machine kept busy over ``seconds`` (before the benchmark starts)."""
    before = psutil.cpu_times()
    time.sleep(seconds)
    after = psutil.cpu_times()
    idle = (after.idle + getattr(after, "iowait", 0.0)) - (before.idle + getattr(before, "iowait", 0.0))
    total = sum(after) - sum(before)
    return round((total - idle) / total * (psutil.cpu_count() or 1), 3) if total > 0 else 0.0


def get_text(url: str, timeout_s: float = 30.0) -> str:
    return httpx.get(url, timeout=timeout_s).text


def log_lines(path: Path, event: str) -> Iterator[dict[str, Any]]:
    """The JSON lines of ``path`` whose ``event`` is ``event``."""
    needle = f'"{event}"'
    with open(path, errors="replace") as lines:
        for line in lines:
            if needle in line:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("event") == event:
                    yield record


def failures(proc: Proc, *, peer: bool) -> dict[str, int]:
    """Calls whose accept or session failed, by reason, from the server's log (TLS ones included)."""
    out: dict[str, int] = {}
    if peer:
        for line in log_lines(proc.stdout_path, "session_error"):
            key = f"session_error:{line.get('error')}"
            out[key] = out.get(key, 0) + 1
        # An accept that raised (a TLS failure of the openai client included) is uvicorn's 500.
        crashed = proc.stderr_path.read_text(errors="replace").count("Exception in ASGI application")
        if crashed:
            out["asgi_exception"] = crashed
        return out
    for event in ("call_accept_failed", "call_session_start_failed", "call_reject_failed"):
        for line in log_lines(proc.stderr_path, event):
            error = line.get("error")
            reason = line.get("reason") or (error.get("reason") if isinstance(error, dict) else None)
            key = f"{event}:{reason}"
            out[key] = out.get(key, 0) + 1
    return out


def wait_until(probe: Any, timeout_s: float, interval_s: float = 0.25) -> bool:
    """Call ``probe()`` until it is truthy or ``timeout_s`` passed; whether it became truthy."""
    def safe() -> bool:
        try:
            return bool(probe())
        except (httpx.HTTPError, OSError, ValueError, KeyError):
            return False

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if safe():
            return True
        time.sleep(interval_s)
    return safe()


class Sampler:
    """Samples CPU time and RSS of some processes in a thread, twice a second."""

    def __init__(self, procs: Sequence[Proc], interval_s: float = 0.5) -> None:
        self.procs = list(procs)
        self.interval_s = interval_s
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            sample: dict[str, Any] = {"t": time.monotonic()}
            for proc in self.procs:
                try:
                    sample[proc.name] = (proc.cpu_s(), proc.rss())
                except psutil.Error:
                    continue
            self.samples.append(sample)
            self._stop.wait(self.interval_s)

    def between(self, t0: float, t1: float, name: str) -> dict[str, float]:
        """CPU share (cores) and peak/median RSS of ``name`` between two instants."""
        window = [s for s in self.samples if t0 <= s["t"] <= t1 and name in s]
        if len(window) < 2:
            return {"cpu_cores": float("nan"), "rss_peak": float("nan")}
        cpu = (window[-1][name][0] - window[0][name][0]) / (window[-1]["t"] - window[0]["t"])
        return {"cpu_cores": round(cpu, 3), "rss_peak": max(s[name][1] for s in window)}


class MachineWatch:
    """Samples, every 2 s, how many cores the whole machine and this benchmark's own process
    tree keep busy; the difference is load from elsewhere that the figures had to share with."""

    def __init__(self, interval_s: float = 2.0) -> None:
        self.interval_s = interval_s
        self.samples: list[tuple[float, float, float]] = []  # (t, machine cores, ours cores)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="machine-watch", daemon=True)
        self._me = psutil.Process()

    def __enter__(self) -> MachineWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _ours_cpu(self) -> float:
        total = 0.0
        for proc in [self._me, *self._me.children(recursive=True)]:
            try:
                times = proc.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
            except psutil.Error:
                continue
        return total

    def _run(self) -> None:
        machine0, ours0, t0 = psutil.cpu_times(), self._ours_cpu(), time.monotonic()
        while not self._stop.wait(self.interval_s):
            machine1, ours1, t1 = psutil.cpu_times(), self._ours_cpu(), time.monotonic()
            idle = (machine1.idle + machine1.iowait) - (machine0.idle + machine0.iowait)
            busy = (sum(machine1) - sum(machine0) - idle) / max(sum(machine1) - sum(machine0), 1e-9)
            cores = busy * (psutil.cpu_count() or 1)
            self.samples.append((t1, round(cores, 3), round(max(ours1 - ours0, 0.0) / (t1 - t0), 3)))
            machine0, ours0, t0 = machine1, ours1, t1

    def foreign(self, t0: float, t1: float) -> dict[str, float]:
        """Average and peak cores used by other processes between two instants."""
        window = [max(m - o, 0.0) for t, m, o in self.samples if t0 <= t <= t1]
        if not window:
            return {"mean_cores": 0.0, "max_cores": 0.0}
        return {"mean_cores": round(sum(window) / len(window), 3), "max_cores": round(max(window), 3)}
