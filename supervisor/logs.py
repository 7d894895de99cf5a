"""Logging setup for the process: every record becomes one JSON line on stderr.

The line's shape and its rendering are :class:`actors.log.JsonFormatter`'s; this module
installs it (:func:`configure_logging`) and holds library loggers at WARNING.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import TextIO

from actors.log import LOGGER_NAME, JsonFormatter

#: Library loggers held at WARNING whatever LOG_LEVEL says.
QUIET_LOGGERS = (
    "asyncio",
    "httpcore",
    "httpcore2",
    "httpx",
    "httpx2",
    "hypercorn",
    "hypercorn.access",
    "hypercorn.error",
    "openai",
    "pymongo",
    "quart",
    "trio-websocket",
    "trio_websocket",
    "websockets",
)


def configure_logging(
    level: str,
    *,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Send every record to ``stream`` (default: the current ``sys.stderr``) as JSON lines.

    The ``callvisor`` logger is set to ``level`` (a name such as ``"INFO"``, any case); library
    loggers stay at WARNING.  Calling it again replaces the handler installed earlier.
    Raises ``ValueError`` for an unknown level name.
    """
    numeric = _level_number(level)
    handler = _CallvisorHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))

    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _CallvisorHandler)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)

    logging.getLogger(LOGGER_NAME).setLevel(numeric)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


class _CallvisorHandler(logging.StreamHandler[TextIO]):
    """Marks the handler :func:`configure_logging` owns, so that a second call can replace it.

    Each line is written and flushed before ``emit`` returns (nothing is held back that a crash
    could lose), as ``StreamHandler`` does, without taking the handler's lock a second time
    for the flush.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            stream = self.stream
            stream.write(line + self.terminator)
            stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


def _level_number(level: str) -> int:
    numeric = logging.getLevelNamesMapping().get(level.strip().upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r} (use DEBUG, INFO, WARNING or ERROR)")
    return numeric


