"""One callvisor and one simulated platform for many fuzzed deliveries, and what is checked after each.

Why the examples run in a worker thread: starting a platform and a callvisor costs about half a
second, so one pair serves every example of a test.  pytest-trio runs the test in a trio loop
that also serves both; hypothesis' ``@given`` function is synchronous and would block that loop,
and pytest-trio's own hypothesis support starts a fresh trio run (and fresh fixtures) per
example.  So the test hands the ``@given`` function to ``trio.to_thread.run_sync``, and each
example drives the loop from there with ``trio.from_thread.run`` (one call per example: the
whole delivery, its checks and its call's end run as one trio task).  Hypothesis generates and
shrinks in the thread while the loop idles.

The loop runs on trio's real clock, not ``mock_clock``: nothing here waits on time (every wait
is for an answer, a log line or a socket, bounded by ``WAIT_S``), and an autojumping clock would
jump ahead whenever the loop idles while hypothesis thinks, firing the servers' timers for no
reason.  Each delivery goes on a connection of its own, as a proxy would send it.

What every example must leave behind (:meth:`FuzzRig.settle`): no call actor, no capacity slot,
no sideband, and nothing wrong in the process's output (:class:`Watch`): no log record that
cannot be rendered as one JSON line, no traceback, no ERROR from hypercorn ("Error in ASGI
Framework"), nothing through ``sys.unraisablehook``.

Statistics: hypothesis keeps its own per thread, out of pytest's reach, so every example is
counted here (:data:`tests.fuzz.profiles.CASES`, with the answer it got in ``LABELS``) and
tests/fuzz/conftest.py prints the counts at the end of the session.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import trio
import trio.testing
from hypothesis import event, note

from actors.log import JsonFormatter
from tests.fuzz.profiles import CASES, LABELS
from tests.lifecycle.conftest import Driver
from tests.rig import WAIT_S, Rig, open_rig


class Watch(logging.Handler):
    """Everything logged in the process, rendered as the service renders it, and the unraisable.

    ``problems`` lists what an operator would find wrong: a record that fails to render or
    renders as something other than one JSON line, a record with a traceback, an ERROR from
    hypercorn, an exception printed through ``sys.unraisablehook``.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.problems: list[str] = []
        self._hook = sys.unraisablehook

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception as exc:
            self.problems.append(f"{record.name}: record cannot be rendered: {exc!r}")
            return
        if "\n" in line or not isinstance(json.loads(line), dict):
            self.problems.append(f"{record.name}: not one JSON line: {line[:200]!r}")
        if record.exc_info:
            self.problems.append(f"{record.name}: traceback logged: {record.getMessage()[:200]}")
        if record.name.startswith("hypercorn") and record.levelno >= logging.ERROR:
            self.problems.append(f"{record.name}: {record.getMessage()[:200]}")

    def unraisable(self, report: Any) -> None:
        code = getattr(report.object, "ag_code", None)
        if report.exc_type is ResourceWarning and code is not None and ("httpx" in code.co_filename or code.co_filename == __file__):
            # The sending side's: httpx abandons the generator of a body the server answered
            # before reading it all (a 413), ours or its own.  Not callvisor's output.
            return
        self.problems.append(f"unraisable {report.exc_type.__name__}: {report.exc_value!r} in {report.object!r}")

    def __enter__(self) -> Watch:
        logging.getLogger().addHandler(self)
        sys.unraisablehook = self.unraisable
        return self

    def __exit__(self, *_exc: object) -> None:
        sys.unraisablehook = self._hook
        logging.getLogger().removeHandler(self)


class FuzzRig:
    """The rig (tests/rig.py), its lifecycle driver, a client without keep-alive, and the watch."""

    def __init__(self, rig: Rig, webhooks: httpx.AsyncClient, watch: Watch) -> None:
        self.rig = rig
        self.driver = Driver(rig)
        self.platform = rig.platform
        self.logs = rig.logs
        self.webhooks = webhooks
        self.watch = watch
        self._ids = 0
        self._notes: list[str] = []
        self._first_line = 0
        #: call_ids decided so far (a redelivery of one is a duplicate, whichever example sends it).
        self.decided: set[str] = set()

    def run_example(self, test: str, example: Callable[..., Awaitable[str]], *args: Any) -> None:
        """Run ``example(self, *args)`` in the trio loop, from hypothesis' worker thread.

        Counted as one case of ``test``, with the label the example returns (what it was
        answered), both printed at the end of the session (tests/fuzz/conftest.py).  What the
        example noted (:meth:`note`) is handed to hypothesis afterwards (it keeps notes per
        thread), so a failing example is printed with them.
        """
        self._notes = []
        # What went wrong is the example's own: shrinking must not chase an earlier one's.
        self.watch.problems.clear()
        self._first_line = len(self.logs.lines)
        CASES[test] += 1
        try:
            label = trio.from_thread.run(example, self, *args)
            LABELS[test][label] += 1
            event(label)
        except BaseException:
            # A failed example may leave its call live: end it, or every later example fails too
            # and hypothesis shrinks towards the wrong one.
            trio.from_thread.run(self.end_live_calls)
            raise
        finally:
            for text in self._notes:
                note(text)

    def note(self, text: str) -> None:
        """Remember ``text`` for the example's report (callable from the trio thread)."""
        self._notes.append(text)

    def fresh(self) -> int:
        """A number no earlier example used: a run's call_id and webhook-id are its own."""
        self._ids += 1
        return self._ids

    async def post(self, body: bytes, headers: list[tuple[bytes, bytes]], *, chunk: int = 0) -> tuple[int, Any]:
        """POST one delivery; its answer must be JSON (``Content-Type`` and body).

        ``chunk`` > 0 sends the body chunked (``Transfer-Encoding: chunked``) in pieces of about
        that many bytes (at most 300 pieces), else with a ``Content-Length``.
        """
        content: bytes | AsyncIterator[bytes] = body
        if chunk:
            size = max(chunk, len(body) // 300 + 1)

            async def pieces() -> AsyncIterator[bytes]:
                for start in range(0, len(body), size):
                    yield body[start : start + size]

            content = pieces()
        with trio.fail_after(WAIT_S):
            response = await self.webhooks.post(f"{self.rig.url}/webhooks/openai", content=content, headers=headers)
        assert response.headers.get("content-type") == "application/json", (response.status_code, response.headers)
        try:
            payload = response.json()
        except ValueError:
            raise AssertionError(f"not JSON: {response.status_code} {response.content[:200]!r}") from None
        return response.status_code, payload

    async def end_live_calls(self) -> None:
        """Hang up (operator port) every call still live, and wait until each has ended."""
        with trio.move_on_after(WAIT_S):
            live = list(self.rig.supervisor.calls)
            for call_id in live:
                await self.driver.admin("POST", f"/actors/{call_id}/hangup")
            for call_id in live:
                await self.logs.wait_for("call_ended", call_id=call_id)

    async def settle(self, *, via_http: bool) -> None:
        """No call actor, slot or sideband is left, and the watch saw nothing wrong."""
        await trio.testing.wait_all_tasks_blocked()
        supervisor = self.rig.supervisor
        assert supervisor.calls == {}, sorted(supervisor.calls)
        assert supervisor.capacity.in_use == 0, supervisor.capacity.snapshot()
        assert dict(supervisor.capacity.by_tenant) == {}
        assert call_tasks() == []
        if via_http:
            await self.driver.assert_no_leaks()
        lines = self.logs.lines[self._first_line :]
        assert [line for line in lines if line.get("event") == "call_actor_crashed"] == []
        assert [line for line in lines if line.get("unregistered_event")] == []
        assert self.watch.problems == [], self.watch.problems


def call_tasks() -> list[str]:
    """Names of the ``call:*`` tasks alive in this trio run (trio's own task tree)."""
    found: list[str] = []
    tasks = [trio.lowlevel.current_root_task()]
    while tasks:
        task = tasks.pop()
        if task.name.startswith("call:"):
            found.append(task.name)
        for nursery in task.child_nurseries:
            tasks.extend(nursery.child_tasks)
    return found


@asynccontextmanager
async def open_fuzz_rig(env: dict[str, str] | None = None) -> AsyncIterator[FuzzRig]:
    with Watch() as watch:
        async with (
            open_rig(env) as rig,
            httpx.AsyncClient(timeout=None, limits=httpx.Limits(max_keepalive_connections=0)) as webhooks,
        ):
            yield FuzzRig(rig, webhooks, watch)
