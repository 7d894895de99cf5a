"""The machine and the software the figures were measured with; the file-descriptor limit."""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import subprocess
import sys
from importlib import metadata
from typing import Any

PACKAGES = (
    "trio", "trio-websocket", "hypercorn", "quart", "quart-trio", "h11", "wsproto", "openai",
    "httpx", "prometheus-client", "openai-agents", "fastapi", "starlette", "uvicorn",
    "websockets", "pydantic", "psutil", "pyinstrument", "matplotlib",
)


def raise_fd_limit() -> tuple[int, int]:
    """Raise this process's RLIMIT_NOFILE soft limit to the hard limit; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1_048_576)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_bytes() -> int:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def machine() -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_bytes": _memory_bytes(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "rlimit_nofile": [soft, hard],
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "packages": {name: _version(name) for name in PACKAGES},
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


_CONTEXT_COST = """
import json, ssl, sys, time, psutil
p = psutil.Process(); n = int(sys.argv[1])
rss0, cpu0 = p.memory_info().rss, time.process_time()
kept = [ssl.create_default_context() for _ in range(n)]
cpu, rss = time.process_time() - cpu0, p.memory_info().rss - rss0
print(json.dumps({"contexts": n, "certificates": kept[0].cert_store_stats()["x509_ca"],
                  "kib_each": round(rss / n / 1024, 1), "cpu_ms_each": round(cpu / n * 1000, 2)}))
"""


def default_context_cost(trust_bundle: str | None, count: int = 40) -> dict[str, Any]:
    """What one ``ssl.create_default_context()`` costs with ``SSL_CERT_FILE=trust_bundle``
    (memory kept while it lives, CPU to build it), in a process of its own: what the peer's
    ``websockets`` pays per sideband connection."""
    env = {**os.environ, **({"SSL_CERT_FILE": trust_bundle} if trust_bundle else {})}
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CONTEXT_COST, str(count)], capture_output=True, timeout=60, env=env, check=True,
        )
        return dict(json.loads(done.stdout))
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}
