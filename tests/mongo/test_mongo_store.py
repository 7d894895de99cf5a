"""MongoStore: worker threads on a dedicated limiter, bounded waits, one error seam."""

from __future__ import annotations

import threading
import time
from typing import Any

import mongomock
import pytest
import trio
import trio.testing
from bson.errors import InvalidDocument
from pymongo.errors import (
    AutoReconnect,
    ConfigurationError,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
    WTimeoutError,
)

from config.errors import InstructionsDBError
from config.mongo import (
    DEADLINE_SLACK_S,
    MongoStore,
    MongoTenantSource,
    client_options,
    error_reason,
    map_db_error,
    open_mongo_store,
)


async def test_run_returns_what_the_function_returns(
    store: MongoStore, mock_clock: trio.testing.MockClock
) -> None:
    """run() hands the function the configured database and returns its result."""
    await store.run("test", lambda db: db.things.insert_one({"_id": "a", "n": 1}))
    found = await store.run("test", lambda db: (db.name, db.things.find_one({"_id": "a"})))
    assert found == ("callvisor", {"_id": "a", "n": 1})


async def test_operations_use_the_stores_own_limiter(
    store: MongoStore, mock_clock: trio.testing.MockClock
) -> None:
    """An operation holds a token of the store's limiter, none of trio's default limiter."""
    default = trio.to_thread.current_default_thread_limiter()

    def tokens(db: Any) -> tuple[float, float]:
        return store.limiter.borrowed_tokens, default.borrowed_tokens

    assert await store.run("test", tokens) == (1, 0)


async def test_a_limiter_of_one_serializes_every_access(mock_clock: trio.testing.MockClock) -> None:
    """With max_threads=1 (mongomock), no two operations ever run at the same time."""
    store = MongoStore(mongomock.MongoClient(), max_threads=1)
    lock = threading.Lock()
    running, most = 0, 0

    def operation(db: Any) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.005)  # holds the thread so overlaps would show
        with lock:
            running -= 1

    async with trio.open_nursery() as nursery:
        for _ in range(8):
            nursery.start_soon(store.run, "test", operation)
    await store.aclose()
    assert most == 1


def test_driver_timeouts_come_from_one_setting() -> None:
    """MONGODB_TIMEOUT_MS is the server selection, connect, socket and overall timeout."""
    names = ("serverSelectionTimeoutMS", "connectTimeoutMS", "socketTimeoutMS", "timeoutMS")
    options = client_options(1500)
    assert {name: options[name] for name in names} == dict.fromkeys(names, 1500)
    store = MongoStore(mongomock.MongoClient(), timeout_ms=1500)
    assert store.timeout_s == 1.5
    assert store.deadline_s == 1.5 + DEADLINE_SLACK_S


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ServerSelectionTimeoutError("no servers"), "db_timeout"),
        (NetworkTimeout("timed out"), "db_timeout"),
        (ExecutionTimeout("operation exceeded time limit", code=50), "db_timeout"),
        (WTimeoutError("waiting for replication timed out", code=64), "db_timeout"),
        (WaitQueueTimeoutError("pool exhausted"), "db_timeout"),
        (trio.TooSlowError(), "db_timeout"),
        (AutoReconnect("connection reset"), "db_unavailable"),
        (NotPrimaryError("not primary"), "db_unavailable"),
        (ConnectionFailure("refused"), "db_unavailable"),
        (OperationFailure("Authentication failed.", code=18), "auth_failed"),
        (OperationFailure("not authorized on callvisor", code=13), "auth_failed"),
        (OperationFailure("bad query", code=2), "db_error"),
        (DuplicateKeyError("E11000 duplicate key", code=11000), "db_error"),
        (ConfigurationError("bad option"), "db_error"),
        (InvalidDocument("cannot encode object"), "db_error"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else value,
)
def test_error_reasons(error: BaseException, reason: str) -> None:
    """Each driver error maps to the reason the troubleshooting guide lists."""
    assert error_reason(error) == reason


def test_mapped_error_renders_as_the_guides_log_example() -> None:
    """The mapped error carries the tenant, the reason and {operation, cause_type}, nothing else."""
    error = map_db_error(
        "fetch_state", ServerSelectionTimeoutError("db-1:27017: timed out"), tenant_id="acme-corp"
    )
    assert isinstance(error, InstructionsDBError)
    assert error.event == "instructions_db_error"
    assert error.to_log_dict() == {
        "error_type": "InstructionsDBError",
        "tenant_id": "acme-corp",
        "reason": "db_timeout",
        "context": {"operation": "fetch_state", "cause_type": "ServerSelectionTimeoutError"},
    }
    assert "db-1" not in error.message  # driver messages name hosts: not repeated


async def test_a_failing_operation_raises_instructions_db_error_from_the_cause(
    store: MongoStore, mock_clock: trio.testing.MockClock
) -> None:
    """A driver error inside run() leaves as InstructionsDBError, chained to the cause."""
    cause = OperationFailure("Authentication failed.", code=18)

    def refused(db: Any) -> None:
        raise cause

    with pytest.raises(InstructionsDBError) as info:
        await store.run("fetch_config", refused, tenant_id="globex")
    assert (info.value.reason, info.value.tenant_id) == ("auth_failed", "globex")
    assert info.value.context == {"operation": "fetch_config", "cause_type": "OperationFailure"}
    assert info.value.__cause__ is cause


async def test_a_programming_error_is_not_disguised(
    store: MongoStore, mock_clock: trio.testing.MockClock
) -> None:
    """Only driver and BSON errors are mapped: a bug in our own function propagates as is."""
    def buggy(db: Any) -> None:
        raise KeyError("a bug of ours")

    with pytest.raises(KeyError):
        await store.run("test", buggy)


async def test_dead_server_is_db_timeout_within_the_deadline(dead_uri: str) -> None:
    """The real driver against a closed port: db_timeout from ServerSelectionTimeoutError, bounded.

    Real clock on purpose: a jumping clock would fire the store's backstop deadline before the
    driver's own 0.5 s server selection timeout could land (the next test pins the backstop).
    """
    async with open_mongo_store(dead_uri, timeout_ms=500) as store:
        source = MongoTenantSource(store)
        start = trio.current_time()
        with pytest.raises(InstructionsDBError) as info:
            await source.fetch_state("acme-corp")
        elapsed = trio.current_time() - start
    assert info.value.reason == "db_timeout"
    assert info.value.tenant_id == "acme-corp"
    assert info.value.context == {
        "operation": "fetch_state",
        "cause_type": "ServerSelectionTimeoutError",
    }
    assert isinstance(info.value.__cause__, ServerSelectionTimeoutError)
    assert 0.4 < elapsed < store.deadline_s


async def test_the_backstop_deadline_bounds_a_wait_on_the_driver(
    dead_uri: str, mock_clock: trio.testing.MockClock
) -> None:
    """When the driver has not answered by deadline_s, run() gives up: db_timeout, TooSlowError."""
    async with open_mongo_store(dead_uri, timeout_ms=100) as store:
        start = trio.current_time()
        with pytest.raises(InstructionsDBError) as info:
            await MongoTenantSource(store).route_number("+18005551212")
        assert trio.current_time() - start == pytest.approx(store.deadline_s)
    assert info.value.reason == "db_timeout"
    assert info.value.context == {"operation": "route_number", "cause_type": "TooSlowError"}


async def test_a_cancelled_caller_does_not_wait_for_the_driver(
    dead_uri: str, mock_clock: trio.testing.MockClock
) -> None:
    """A caller's own deadline returns at once: the worker thread is abandoned, not awaited."""
    async with open_mongo_store(dead_uri, timeout_ms=2000) as store:
        start = trio.current_time()
        with trio.move_on_after(0.05) as scope:
            await MongoTenantSource(store).list_tenants()
        assert scope.cancelled_caught
        assert trio.current_time() - start == pytest.approx(0.05)


async def test_an_unusable_uri_fails_at_connect(mock_clock: trio.testing.MockClock) -> None:
    """A URI the driver refuses is an InstructionsDBError of operation 'connect'."""
    with pytest.raises(InstructionsDBError) as info:
        async with open_mongo_store("mongodb://127.0.0.1:99999/"):
            pass  # pragma: no cover
    assert info.value.reason == "db_error"
    assert info.value.context == {"operation": "connect", "cause_type": "ValueError"}


async def test_after_an_outage_is_found_operations_fail_fast_for_a_moment(dead_uri: str) -> None:
    """One timed-out operation, then FAIL_FAST_S of immediate failures, then a real attempt again.

    Real clock: the first and last attempts wait for the driver's own 0.5 s timeout.
    """
    from config.mongo_store import FAIL_FAST_S

    async with open_mongo_store(dead_uri, timeout_ms=500) as store:
        source = MongoTenantSource(store)
        with pytest.raises(InstructionsDBError):
            await source.fetch_state("acme-corp")
        start = trio.current_time()
        with pytest.raises(InstructionsDBError) as info:
            await source.fetch_config("acme-corp")
        assert trio.current_time() - start < 0.1
        assert info.value.reason == "db_timeout"
        assert info.value.context == {
            "operation": "fetch_config",
            "cause_type": "ServerSelectionTimeoutError",
            "fail_fast": True,
        }
        await trio.sleep(FAIL_FAST_S)
        start = trio.current_time()
        with pytest.raises(InstructionsDBError) as info:
            await source.fetch_config("acme-corp")
        assert trio.current_time() - start > 0.4
        assert "fail_fast" not in info.value.context
