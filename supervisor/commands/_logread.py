"""Reading callvisor's JSON log back, for ``trace`` and ``report`` (private; see trace.py).

A source is a file (plain or gzip, told apart by its first two bytes, not by its name) or
stdin.  Every line is one JSON object as :class:`actors.log.JsonFormatter` writes it; anything
else (a traceback, a line cut short, a line of another program) is skipped and counted, never
fatal.  The lines of one call are kept; those of several sources are merged by their ``ts``
(ISO-8601 in UTC with milliseconds, so the text sorts as the time does), a tie keeping the
order of the sources and, within one, the order of the lines.

A log line names no replica; the file does: its ``service_started`` line carries
``replica_id``.  A source without one is named by its path (``-`` for stdin).
"""

from __future__ import annotations

import gzip
import io
import json
import re
import sys
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from attrs import define, field, frozen

GZIP_MAGIC = b"\x1f\x8b"
#: The shape of ``ts``: ``2026-03-02T14:30:45.123Z``.
_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")
STDIN = "-"


@frozen(kw_only=True)
class Entry:
    """One line of the call's log, with where it came from."""

    ts: str
    event: str | None
    line: dict[str, Any]
    source: str
    replica: str
    number: int  # line number in its source, from 1

    @property
    def seconds(self) -> float:
        """``ts`` as seconds since the epoch (UTC)."""
        return parse_ts(self.ts)


@define
class Skipped:
    """What was read and left out, per kind."""

    not_json: int = 0
    malformed: int = 0
    other_calls: int = 0
    #: Lines a webhook whose signature failed left: they carry no call_id (the body is unread).
    unattributed_verification_failures: int = 0
    problems: list[str] = field(factory=list)
    #: The ``service_started`` line of each source that has one: ``(source, line)``.
    service_started: list[tuple[str, dict[str, Any]]] = field(factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "not_json": self.not_json,
            "malformed": self.malformed,
            "other_calls": self.other_calls,
            "unattributed_verification_failures": self.unattributed_verification_failures,
            "problems": list(self.problems),
        }


def parse_ts(ts: str) -> float:
    """Seconds since the epoch of a ``ts`` field."""
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def read_call(call_id: str, sources: Iterable[tuple[str, BinaryIO]]) -> tuple[list[Entry], Skipped]:
    """The lines of ``call_id`` in every source, in time order, and what was skipped."""
    skipped = Skipped()
    entries: list[tuple[float, int, int, Entry]] = []
    for order, (name, stream) in enumerate(sources):
        replica = name
        kept: list[tuple[int, dict[str, Any]]] = []
        for number, line in _lines(name, stream, skipped):
            if line.get("event") == "service_started":
                skipped.service_started.append((name, line))
                found = line.get("replica_id")
                if replica == name and isinstance(found, str) and found:
                    replica = found
            if line.get("call_id") != call_id:
                if line.get("event") == "webhook_verification_failed" and line.get("call_id") is None:
                    skipped.unattributed_verification_failures += 1
                skipped.other_calls += 1
                continue
            kept.append((number, line))
        for number, line in kept:
            entry = Entry(
                ts=line["ts"], event=_event(line), line=line, source=name, replica=replica, number=number
            )
            entries.append((entry.seconds, order, number, entry))
    entries.sort(key=lambda item: item[:3])
    return [entry for *_, entry in entries], skipped


def _event(line: dict[str, Any]) -> str | None:
    event = line.get("event")
    return event if isinstance(event, str) else None


def _lines(name: str, stream: BinaryIO, skipped: Skipped) -> Iterator[tuple[int, dict[str, Any]]]:
    """The JSON objects of one source with their line numbers; the rest counted in ``skipped``."""
    number = 0
    try:
        for raw in _text_lines(stream):
            number += 1
            text = raw.strip()
            if not text:
                continue
            try:
                line = json.loads(text)
            except (ValueError, RecursionError):
                skipped.not_json += 1
                continue
            if not isinstance(line, dict) or not _usable(line):
                skipped.malformed += 1
                continue
            yield number, line
    except (OSError, EOFError, zlib.error) as exc:  # a gzip cut short, a bad disk
        skipped.problems.append(f"{name}: stopped reading after line {number}: {_reason(exc)}")


def _usable(line: dict[str, Any]) -> bool:
    ts = line.get("ts")
    call_id = line.get("call_id")
    return (
        isinstance(ts, str)
        and _TS.fullmatch(ts) is not None
        and (call_id is None or isinstance(call_id, str))
        and (line.get("event") is None or isinstance(line.get("event"), str))
    )


def _text_lines(stream: BinaryIO) -> Iterator[str]:
    """The lines of ``stream``, gunzipped when it starts with gzip's magic bytes."""
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(_Raw(stream))
    binary: BinaryIO = buffered
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        binary = gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[assignment]
    for raw in binary:
        yield raw.decode("utf-8", errors="replace")


class _Raw(io.RawIOBase):
    """A readable raw stream over any binary file object, so that it can be peeked at."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "the gzip stream ends early"
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def open_sources(paths: Sequence[str]) -> Iterator[list[tuple[str, BinaryIO]]]:
    """``(name, binary stream)`` per path (``-`` is stdin; none at all: stdin), all opened first.

    Raises OSError, before anything is read, when a file cannot be opened.
    """
    with ExitStack() as stack:
        opened: list[tuple[str, BinaryIO]] = []
        for path in paths or [STDIN]:
            if path == STDIN:
                opened.append((STDIN, sys.stdin.buffer))
            else:
                opened.append((path, stack.enter_context(Path(path).open("rb"))))
        yield opened
