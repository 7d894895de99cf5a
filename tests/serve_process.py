"""``callvisor serve`` as a child process, for the tests that need a real process.

``open_serve_process(platform, signer, **env)`` starts it against a simulated platform, reads
its JSON log from stderr, and on exit ends it (SIGTERM, then SIGKILL after 10 s) unless it has
exited by itself.  Every wait a test makes on it must be bounded by the test.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import trio

from supervisor.testing import EXAMPLE_TENANTS, LogLines, SimulatedPlatform, WebhookSigner
from tests.leaks import leaks

ROOT = Path(__file__).resolve().parents[1]


class ServiceProcess(LogLines):
    """A ``callvisor serve`` child process and the JSON lines it logs (:class:`LogLines`)."""

    def __init__(self, process: trio.Process) -> None:
        super().__init__()
        self.process = process
        self.raw: list[str] = []
        #: Lines that leaked a secret or a raw webhook body (tests/leaks.py); checked on exit.
        self.leaked: list[str] = []

    async def read_log(self) -> None:
        assert self.process.stderr is not None
        buffer = b""
        async for chunk in self.process.stderr:
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            for line in complete:
                text = line.decode()
                self.raw.append(text)
                if found := leaks(text):
                    self.leaked.append(f"{found}: {text[:300]}")
                try:
                    self.add(json.loads(text))
                except ValueError:
                    continue


def serve_environment(platform: SimulatedPlatform, signer: WebhookSigner, **extra: str) -> dict[str, str]:
    """The environment of a ``serve`` pointed at ``platform``; ``extra`` overrides or adds."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
    env.update(
        OPENAI_API_KEY=platform.api_key,
        OPENAI_WEBHOOK_SECRET=signer.secret,
        OPENAI_BASE_URL=platform.base_url,
        OPENAI_REALTIME_URL=platform.realtime_url,
        OPENAI_LIVE_URL=platform.live_url,
        CALLVISOR_TENANTS_FILE=str(EXAMPLE_TENANTS),
        CALLVISOR_HTTP="127.0.0.1:0",
        CALLVISOR_ADMIN="127.0.0.1:0",
        CALLVISOR_TOOL_ALLOWED_HOSTS="tools.acme.example",
        LOG_LEVEL="INFO",
    )
    env.update(extra)
    return {k: v for k, v in env.items() if v != ""}


@asynccontextmanager
async def open_serve_process(
    env: dict[str, str], *, open_file_limit: int | None = None
) -> AsyncIterator[ServiceProcess]:
    """``open_file_limit`` sets the child's soft and hard RLIMIT_NOFILE (it cannot raise it)."""
    limit = None if open_file_limit is None else partial(_limit_open_files, open_file_limit)
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "supervisor.commands.cli", "serve"],
        cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, preexec_fn=limit,
    )
    service = ServiceProcess(process)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(service.read_log)
            yield service
            nursery.cancel_scope.cancel()
        assert service.leaked == [], "callvisor serve logged a secret or a raw webhook body"
    finally:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.terminate()
                with trio.move_on_after(10):
                    await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()


def _limit_open_files(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
