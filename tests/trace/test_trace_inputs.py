"""What ``callvisor trace`` reads: gzip or plain by content, stdin, junk lines, several replicas."""

from __future__ import annotations

import gzip
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from contextvars import ContextVar
from pathlib import Path

import httpx
import mongomock
import trio
import trio.testing

from actors.log import LOGGER_NAME, JsonFormatter
from config.mongo_store import MongoStore
from supervisor.cluster import cluster_coordination, ensure_cluster_indexes
from supervisor.testing import (
    LogTap,
    WebhookSigner,
    new_secret,
    open_driver,
    open_platform,
    settings_for,
)
from tests.trace.tracing import statuses, trace, traced

ROOT = Path(__file__).resolve().parents[2]


def test_gzip_is_told_by_its_content_not_its_name(demo_log: Path, tmp_path: Path) -> None:
    """A gzip file named .log and a plain file named .gz trace the same as the original."""
    zipped = tmp_path / "callvisor.log"
    zipped.write_bytes(gzip.compress(demo_log.read_bytes()))
    plain = tmp_path / "callvisor.log.gz"
    plain.write_bytes(demo_log.read_bytes())
    def steps(path: Path) -> str:
        return json.dumps(traced("rtc_demo_hooli", path)["steps"]).replace(str(path), "FILE")

    assert steps(zipped) == steps(demo_log)
    assert steps(plain) == steps(demo_log)


def test_a_gzip_cut_short_keeps_what_was_read_and_says_so(demo_log: Path, tmp_path: Path) -> None:
    """Half a gzip stream: the call's early lines are traced, and stderr names the file's problem."""
    whole = gzip.compress(demo_log.read_bytes())
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    status, out, err = trace("rtc_demo_healthy", cut)
    assert status == 0
    assert f"callvisor: {cut}: stopped reading after line" in err
    assert "gzip stream ends early" in err
    assert statuses(json.loads(out))["passed"] == list(range(1, 12))


def test_stdin_when_no_file_is_named(demo_log: Path) -> None:
    """`callvisor trace CALL_ID` reads stdin (gzip too) in a real process; exit 0, the steps out."""
    for data in (demo_log.read_bytes(), gzip.compress(demo_log.read_bytes())):
        done = subprocess.run(
            [sys.executable, "-m", "supervisor.commands.cli", "trace", "rtc_demo_umbrella", "--json"],
            input=data, capture_output=True, cwd=ROOT, timeout=60, check=False,
        )
        assert done.returncode == 0, done.stderr
        assert statuses(json.loads(done.stdout))["failed"] == [6]


def test_junk_lines_are_skipped_and_counted(demo_log: Path, tmp_path: Path) -> None:
    """A traceback, cut lines, non-objects, bad ts, binary bytes: skipped, counted, trace intact."""
    lines = demo_log.read_text().splitlines()
    junk = [
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in <module> "call_id":"rtc_demo_hooli"',
        lines[0][: len(lines[0]) // 2],  # a line cut short: not JSON
        "[1, 2, 3]",
        '{"ts": "yesterday", "event": "call_ended", "call_id": "rtc_demo_hooli"}',
        '{"ts": "2026-01-01T00:00:00.000Z", "event": ["x"], "call_id": "rtc_demo_hooli"}',
        "",
    ]
    mixed = tmp_path / "mixed.log"
    with mixed.open("wb") as f:
        for n, line in enumerate(lines):
            f.write(line.encode() + b"\n")
            f.write(junk[n % len(junk)].encode() + b"\n")
        f.write(b"\xff\xfe\x00 not utf-8 \x80\n")
    document = traced("rtc_demo_hooli", mixed)
    assert statuses(document)["failed"] == [7]
    assert document["lines"] == 2
    skipped = document["skipped"]
    per_kind = {j: sum(1 for n in range(len(lines)) if junk[n % len(junk)] == j) for j in junk}
    assert skipped["malformed"] == per_kind[junk[3]] + per_kind[junk[4]] + per_kind[junk[5]]
    assert skipped["not_json"] == per_kind[junk[0]] + per_kind[junk[1]] + per_kind[junk[2]] + 1
    assert skipped["other_calls"] == len(lines) - 2


def test_an_unreadable_file_is_a_usage_error(tmp_path: Path) -> None:
    """A file that does not exist: exit 2, its name and the reason on stderr, nothing read."""
    status, out, err = trace("rtc_x", tmp_path / "missing.log")
    assert status == 2
    assert out == ""
    assert err == f"callvisor: {tmp_path / 'missing.log'}: cannot read: No such file or directory\n"


# -- several replicas ----------------------------------------------------------------------

_replica: ContextVar[str | None] = ContextVar("replica", default=None)


class _PerReplicaFiles(logging.Handler):
    """Writes each record to the file of the replica whose task logged it.

    Every task of a replica (its servers, its call actors) is started from the context in which
    the replica was opened, so it inherits that replica's ``_replica`` value.
    """

    def __init__(self, paths: dict[str, Path]) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.files = {name: path.open("w", encoding="utf-8") for name, path in paths.items()}

    def emit(self, record: logging.LogRecord) -> None:
        name = _replica.get()
        if name is not None:
            self.files[name].write(self.format(record) + "\n")
            self.files[name].flush()

    def close(self) -> None:
        for file in self.files.values():
            file.close()
        super().close()


@contextmanager
def _logged_per_replica(paths: dict[str, Path]) -> Iterator[None]:
    handler = _PerReplicaFiles(paths)
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()


async def test_two_replicas_logs_are_merged_by_time(
    mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """Cluster mode: decided on replica-0, redelivered to and hung up from replica-1, one timeline."""
    paths = {name: tmp_path / f"{name}.log" for name in ("replica-0", "replica-1")}
    signer = WebhookSigner(new_secret())
    store = MongoStore(mongomock.MongoClient(), max_threads=1)
    logs = LogTap()
    with _logged_per_replica(paths), logs.installed():
        async with open_platform() as platform, AsyncExitStack() as stack:
            await ensure_cluster_indexes(store)
            http = await stack.enter_async_context(httpx.AsyncClient(timeout=None))
            drivers = []
            for name in paths:
                token = _replica.set(name)
                settings = settings_for(platform, signer, env={"CALLVISOR_REPLICA_ID": name})
                coordination = cluster_coordination(
                    store, replica_id=name, limit=10, lease_ttl_s=30.0, now=trio.current_time
                )
                drivers.append(await stack.enter_async_context(
                    open_driver(settings, platform, signer, logs, http=http, coordination=coordination)
                ))
                _replica.reset(token)
            with trio.fail_after(60):
                first = await drivers[0].call("rtc_two_replicas", webhook_id="wh_two")
                assert first.json() == {"ok": True, "accepted": "rtc_two_replicas"}
                await platform.call("rtc_two_replicas").wait_connected()
                again = await drivers[1].call("rtc_two_replicas", webhook_id="wh_two")
                assert again.json() == {"ok": True, "duplicate": True}
                hangup = await http.post(f"{drivers[1].admin_url}/actors/rtc_two_replicas/hangup")
                assert hangup.json()["forwarded"] is True
                await logs.wait_for("call_ended", call_id="rtc_two_replicas")
    document = traced("rtc_two_replicas", *paths.values())
    assert document["replicas"] == ["replica-0", "replica-1"]
    assert statuses(document)["passed"] == list(range(1, 12))
    by_step = {s["number"]: [(e["event"], e["replica"]) for e in s["events"]] for s in document["steps"]}
    assert by_step[3] == [("duplicate_webhook_id", "replica-1")]
    assert by_step[9] == [("call_accepted", "replica-0")]
    assert by_step[11] == [
        ("operator_hangup", "replica-1"), ("operator_hangup", "replica-0"), ("call_ended", "replica-0"),
    ]
    every = [e["ts"] for s in document["steps"] for e in s["events"] if s["number"] >= 9]
    assert every == sorted(every)
