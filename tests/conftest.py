"""Fixtures shared by every test.

The leak watch (autouse)
    Every record any logger emits during a test is rendered by :class:`actors.log.JsonFormatter`
    *without* its secret scrubbing and scanned (tests/leaks.py) for the suite's secrets and raw
    webhook bodies; a test that produced one fails at teardown.  The scrubbing is the second
    line of defence; this checks the first: nothing logs a secret at all.  A test that logs a
    secret on purpose, to check the scrubbing, says so with ``@pytest.mark.logs_a_secret``.

``log_lines``
    Captures what the ``callvisor`` logger writes, rendered by the real
    :class:`actors.log.JsonFormatter`, so that a test asserts on the line an operator would
    grep.  A test that logs an event missing from ``actors.log.EVENTS`` errors at teardown.

Clocks
    pytest-trio runs a test under a clock when the test itself (not one of its fixtures) asks
    for a fixture whose value is a ``trio.abc.Clock``; at most one per test.

    - ``autojump_clock`` (from pytest-trio, ``autojump_threshold=0``): for tests that stay in
      memory (memory streams, MockTransport, in-process fakes).  Whenever every task is blocked
      the clock jumps to the next deadline at once, so timeouts of minutes take no real time.
    - ``mock_clock`` (overridden here, ``autojump_threshold=0.2``): for tests that touch real
      sockets or threads (loopback servers, ``trio.to_thread``).  Tasks waiting on the kernel or
      a thread look blocked to trio; a zero threshold would jump past their deadlines before
      the I/O lands.  The clock only jumps after 0.2 s of real idleness.

``platform``, ``client``
    A simulated OpenAI platform served in the test's nursery, and the openai SDK's client
    pointed at it (no retries): for the tests of the platform itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import trio.testing

from actors.log import LOGGER_NAME, JsonFormatter
from tests.leaks import leaks

if TYPE_CHECKING:
    import openai

    from supervisor.testing import SimulatedPlatform


class _LeakWatch(logging.Handler):
    """Renders each record as a line and keeps those that leak (tests/leaks.py)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.found: list[tuple[list[str], str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        if found := leaks(line):
            self.found.append((found, line[:300]))


@pytest.fixture(autouse=True)
def leak_watch(request: pytest.FixtureRequest) -> Iterator[None]:
    watch = _LeakWatch()
    root = logging.getLogger()
    root.addHandler(watch)
    try:
        yield
    finally:
        root.removeHandler(watch)
    if watch.found and request.node.get_closest_marker("logs_a_secret") is None:
        shown = "\n".join(f"  {names}: {line}" for names, line in watch.found[:5])
        pytest.fail(f"{len(watch.found)} log line(s) leaked a secret or a raw webhook body:\n{shown}")


class _ListHandler(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class LogLines:
    """The JSON lines logged during one test."""

    def __init__(self) -> None:
        self.raw: list[str] = []

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every captured line parsed, or only those whose ``event`` is ``name``."""
        parsed = [json.loads(line) for line in self.raw]
        if name is None:
            return parsed
        return [line for line in parsed if line.get("event") == name]

    def unregistered(self) -> list[dict[str, Any]]:
        """Lines whose event is missing from the registry."""
        return [line for line in self.events() if line.get("unregistered_event") is True]

    def clear(self) -> None:
        self.raw.clear()


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    capture = LogLines()
    handler = _ListHandler(capture.raw)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(LOGGER_NAME)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    missing = sorted({str(line.get("event")) for line in capture.unregistered()})
    if missing:
        pytest.fail(
            f"logged events missing from actors/log/_events.py: {', '.join(missing)} "
            "(register them in EVENTS, then run `make docs`)"
        )


@pytest.fixture
def mock_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.2)


@pytest.fixture
def rig_env() -> dict[str, str]:
    """Environment overrides for ``rig``; override this fixture in a test module."""
    return {}


@pytest.fixture
async def rig(rig_env: dict[str, str]) -> Any:
    """A simulated platform and a real callvisor on loopback (see tests/rig.py).

    Use with ``mock_clock``: the rig has real sockets.
    """
    from tests.rig import open_rig

    async with open_rig(rig_env) as rig:
        yield rig


@pytest.fixture
async def platform(nursery: trio.Nursery) -> SimulatedPlatform:
    """A simulated OpenAI platform on loopback, served until the test ends."""
    from supervisor.testing import SimulatedPlatform, serve_platform

    served = SimulatedPlatform()
    await nursery.start(serve_platform, served)
    return served


@pytest.fixture
async def client(platform: SimulatedPlatform) -> AsyncIterator[openai.AsyncOpenAI]:
    """The openai SDK's client for ``platform`` (no retries: a test sees each answer)."""
    import openai

    async with openai.AsyncOpenAI(
        api_key=platform.api_key, base_url=platform.base_url, max_retries=0
    ) as sdk:
        yield sdk
