"""The log ``trace`` and ``report`` are tested on: the JSON lines of a real ``callvisor demo`` run.

The demo (every scenario, over TLS) runs once per session; its lines are written by the real
:class:`actors.log.JsonFormatter`, as ``serve`` writes them to stderr, to ``demo.log``.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
import trio

from actors.log import LOGGER_NAME, JsonFormatter
from supervisor.commands.demo import run_demo


@pytest.fixture(scope="session")
def demo_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The path of a file holding the log of one whole demo run (which must pass)."""
    path = tmp_path_factory.mktemp("demo") / "demo.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    out = io.StringIO()
    try:
        status = trio.run(run_demo, out)
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert status == 0, out.getvalue()
    return path
