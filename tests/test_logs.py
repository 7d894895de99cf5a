from __future__ import annotations

import calendar
import inspect
import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
import trio

from actors.log import LOGGER_NAME, JsonFormatter, call_context, format_ts, log_event
from config.errors import TenantNotConfiguredError
from supervisor.logs import QUIET_LOGGERS, configure_logging

API_KEY = "sk-test-9f8e7d6c5b4a39281706"
WEBHOOK_SECRET = "whsec_c2VjcmV0LXNlY3JldA=="
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture
def configured() -> Iterator[io.StringIO]:
    """configure_logging() into a buffer; the global logging state is put back afterwards."""
    root = logging.getLogger()
    names = (LOGGER_NAME, *QUIET_LOGGERS)
    saved_levels = {name: logging.getLogger(name).level for name in names}
    saved_handlers = list(root.handlers)
    saved_root_level = root.level
    stream = io.StringIO()
    configure_logging("DEBUG", secrets=(API_KEY, WEBHOOK_SECRET, "short"), stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            if handler not in saved_handlers:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(saved_root_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


def lines_of(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_keys_come_in_the_documented_order(log_lines: Any) -> None:
    """A log_event line has ts, level, logger, msg, event, ids, extras in call order, error last."""
    log_event(
        logging.ERROR,
        "instructions_missing",
        "greeting is empty",
        tenant_id="acme-corp",
        call_id="call_abc123",
        zeta=1,
        alpha=2,
        error=ValueError("nope"),
    )
    [line] = log_lines.events()
    assert list(line) == [
        "ts", "level", "logger", "msg", "event", "tenant_id", "call_id", "zeta", "alpha", "error",
    ]  # fmt: skip
    assert TS_RE.match(line["ts"])
    assert line["level"] == "ERROR"
    assert line["logger"] == "callvisor"
    assert line["msg"] == "greeting is empty"
    assert line["event"] == "instructions_missing"
    assert line["error"] == {"error_type": "ValueError", "message": "nope"}


def test_message_defaults_to_the_event_name(log_lines: Any) -> None:
    """Without a message the msg key repeats the event code."""
    log_event(logging.INFO, "call_ended", reason="caller_hangup", duration_s=12.5)
    [line] = log_lines.events("call_ended")
    assert line["msg"] == "call_ended"
    assert line["reason"] == "caller_hangup"
    assert line["duration_s"] == 12.5


def test_timestamp_is_utc_with_milliseconds() -> None:
    """ts is the record's creation time in UTC, millisecond precision, Z suffix."""
    created = calendar.timegm((2026, 3, 2, 14, 30, 45, 0, 0, 0)) + 0.125
    assert format_ts(created) == "2026-03-02T14:30:45.125Z"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    record.created = created
    assert json.loads(JsonFormatter().format(record))["ts"] == "2026-03-02T14:30:45.125Z"


def test_guide_grep_recipes_match_the_lines(log_lines: Any) -> None:
    """The troubleshooting guide's grep filters find the lines they are meant to find."""
    log_event(
        logging.ERROR,
        "webhook_verification_failed",
        "Invalid signature",
        reason="bad_signature",
    )
    with call_context(call_id="call_abc123", tenant_id="acme-corp"):
        log_event(logging.INFO, "call_accepted")
    errors, accepted = log_lines.raw
    assert '"level":"ERROR"' in errors
    assert '"event":"webhook_verification_failed"' in errors
    assert '"level":"ERROR"' not in accepted
    assert '"tenant_id":"acme-corp"' in accepted
    assert '"call_id":"call_abc123"' in accepted
    assert "\n" not in errors + accepted


async def test_call_context_reaches_lines_of_its_own_task_only(log_lines: Any) -> None:
    """Ids set in a call's task appear on its lines and on its children's, not on a sibling's."""

    async def call(call_id: str) -> None:
        with call_context(call_id=call_id, tenant_id="acme-corp"):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(child)

    async def child() -> None:
        log_event(logging.INFO, "call_accepted")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(call, "call_1")
        nursery.start_soon(call, "call_2")
    log_event(logging.INFO, "call_ended")

    lines = log_lines.events()
    assert sorted(line["call_id"] for line in lines[:2]) == ["call_1", "call_2"]
    assert {line["tenant_id"] for line in lines[:2]} == {"acme-corp"}
    assert lines[2]["call_id"] is None
    assert lines[2]["tenant_id"] is None


def test_application_error_is_rendered_with_to_log_dict(log_lines: Any) -> None:
    """An ApplicationError is logged as its to_log_dict(), under the error key, last."""
    error = TenantNotConfiguredError(
        "no state document", reason="state_doc_missing", tenant_id="acme-corp"
    )
    log_event(logging.ERROR, error.event, "tenant has no state", tenant_id="acme-corp", error=error)
    [line] = log_lines.events("tenant_not_configured")
    assert list(line)[-1] == "error"
    assert line["level"] == "ERROR"
    assert line["tenant_id"] == "acme-corp"
    assert line["error"] == {
        "error_type": "TenantNotConfiguredError",
        "tenant_id": "acme-corp",
        "reason": "state_doc_missing",
        "context": {},
    }


def test_fields_named_like_base_keys_do_not_overwrite_them(log_lines: Any) -> None:
    """An extra called msg or ts is kept under a trailing underscore."""
    log_event(logging.INFO, "call_ended", "the message", ts="not a time", logger="x")
    [line] = log_lines.events()
    assert line["msg"] == "the message"
    assert TS_RE.match(line["ts"])
    assert line["logger"] == "callvisor"
    assert line["ts_"] == "not a time"
    assert line["logger_"] == "x"


def test_unregistered_events_are_flagged(log_lines: Any) -> None:
    """An event missing from the registry is marked, and log_lines reports it."""
    log_event(logging.INFO, "made_up_event")
    [line] = log_lines.unregistered()
    assert line["event"] == "made_up_event"
    log_lines.clear()  # otherwise the fixture fails this test at teardown


def test_values_json_cannot_hold_are_written_as_text(log_lines: Any) -> None:
    """Sets, bytes, objects, NaN, odd dict keys and failing __str__ never break a line."""

    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no")

    log_event(logging.INFO, "call_ended", blob=b"\x00ab", things={3}, obj=Broken())
    log_event(logging.INFO, "call_ended", ratio=float("nan"), mapping={(1, 2): "pair"})
    first, second = log_lines.events()
    assert first["blob"] == "b'\\x00ab'"
    assert first["things"] == "{3}"
    assert first["obj"] == "<unprintable Broken>"
    assert second["ratio"] == "nan"
    assert second["mapping"] == {"(1, 2)": "pair"}


def test_control_characters_are_escaped_and_unicode_kept(log_lines: Any) -> None:
    """Untrusted text cannot break the one-line-per-event shape."""
    log_event(logging.INFO, "call_ended", caller='Zoë\n{"level":"ERROR"}\x1b[31m')
    [raw] = log_lines.raw
    assert "\n" not in raw
    assert "\x1b" not in raw
    assert "Zoë" in raw
    assert json.loads(raw)["caller"] == 'Zoë\n{"level":"ERROR"}\x1b[31m'


def test_library_records_get_context_and_traceback(configured: io.StringIO) -> None:
    """A third-party record has event null, the call's ids, and exc_type/exc for a traceback."""
    with call_context(call_id="call_abc123", tenant_id="acme-corp"):
        try:
            raise ValueError("pool closed")
        except ValueError:
            logging.getLogger("pymongo").exception("lost connection to %s", "db-1")
    [line] = lines_of(configured)
    assert list(line) == [
        "ts", "level", "logger", "msg", "event", "tenant_id", "call_id", "exc_type", "exc",
    ]  # fmt: skip
    assert line["logger"] == "pymongo"
    assert line["msg"] == "lost connection to db-1"
    assert line["event"] is None
    assert line["tenant_id"] == "acme-corp"
    assert line["call_id"] == "call_abc123"
    assert line["exc_type"] == "ValueError"
    assert line["exc"].startswith("Traceback")
    assert "ValueError: pool closed" in line["exc"]


def test_library_loggers_are_held_at_warning(configured: io.StringIO) -> None:
    """With LOG_LEVEL=DEBUG callvisor logs debug lines while libraries log warnings only."""
    for name in ("httpx", "hypercorn.access", "openai", "trio-websocket", "pymongo"):
        logging.getLogger(name).info("chatter")
        logging.getLogger(name).warning("trouble")
    log_event(logging.DEBUG, "call_ended")
    lines = lines_of(configured)
    assert [line["msg"] for line in lines] == ["trouble"] * 5 + ["call_ended"]
    for name in QUIET_LOGGERS:
        assert logging.getLogger(name).level == logging.WARNING


def test_configure_logging_twice_keeps_one_handler(configured: io.StringIO) -> None:
    """A second configure_logging() replaces the first handler instead of doubling lines."""
    second = io.StringIO()
    configure_logging("info", stream=second)
    log_event(logging.INFO, "call_ended")
    log_event(logging.DEBUG, "call_ended")
    assert configured.getvalue() == ""
    assert len(second.getvalue().splitlines()) == 1


def test_unknown_level_is_refused() -> None:
    """LOG_LEVEL=LOUD is a configuration error, not a silent default."""
    with pytest.raises(ValueError, match="LOUD"):
        configure_logging("LOUD", stream=io.StringIO())


@pytest.mark.logs_a_secret
def test_configured_secrets_are_scrubbed(configured: io.StringIO) -> None:
    """A secret that reaches a line anyway is replaced by [redacted]; short ones are left alone."""
    log_event(
        logging.WARNING,
        "call_accept_failed",
        f"request with key {API_KEY} failed",
        header=f"Bearer {API_KEY}",
        error=RuntimeError(f"bad secret {WEBHOOK_SECRET}"),
        note="short words stay",
    )
    raw = configured.getvalue()
    assert API_KEY not in raw
    assert WEBHOOK_SECRET not in raw
    [line] = lines_of(configured)
    assert line["msg"] == "request with key [redacted] failed"
    assert line["header"] == "Bearer [redacted]"
    assert line["error"]["message"] == "bad secret [redacted]"
    assert line["note"] == "short words stay"


def test_secrets_that_json_escapes_are_scrubbed_too() -> None:
    """A secret with a quote or backslash is found in its escaped form as well."""
    secret = 'pa"ss\\word-123'
    record = logging.LogRecord(
        "lib", logging.ERROR, __file__, 1, "uri mongodb://u:%s@h", (secret,), None
    )
    line = JsonFormatter(secrets=[secret]).format(record)
    assert json.loads(line)["msg"] == "uri mongodb://u:[redacted]@h"


def test_each_line_is_in_the_file_when_log_event_returns(configured: io.StringIO, tmp_path: Any) -> None:
    """Nothing is held back in a buffer: the file has the whole line as soon as the call returns."""
    path = tmp_path / "callvisor.log"
    with open(path, "w") as stream:
        configure_logging("INFO", stream=stream)
        log_event(logging.INFO, "call_ended", "call ended", reason="caller_hangup")
        assert json.loads(path.read_text())["reason"] == "caller_hangup"
        log_event(logging.INFO, "call_ended", "call ended", reason="end_call")
        assert len(path.read_text().splitlines()) == 2


def test_records_carry_the_location_of_the_log_event_call() -> None:
    """Another handler on the logger sees the function and line that called log_event."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger(LOGGER_NAME)
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    here = inspect.currentframe()
    assert here is not None
    try:
        line = here.f_lineno + 1
        log_event(logging.INFO, "call_ended", "call ended", reason="caller_hangup")
        log_event(logging.DEBUG, "call_ended", "below the level")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    [record] = records
    assert (record.pathname, record.lineno) == (__file__, line)
    assert record.funcName == "test_records_carry_the_location_of_the_log_event_call"
    assert record.getMessage() == "call ended"
    assert record.levelname == "INFO"
