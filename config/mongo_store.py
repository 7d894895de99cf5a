"""``MongoStore``: the one place callvisor talks to MongoDB, and the one seam for its errors.

pymongo's ``AsyncMongoClient`` only runs under asyncio, so the store owns a *sync*
``pymongo.MongoClient`` and runs every operation in a worker thread::

    with trio.fail_after(deadline_s):
        await trio.to_thread.run_sync(fn, abandon_on_cancel=True, limiter=store.limiter)

- ``abandon_on_cancel=True``: a cancelled caller (a call hung up, a deadline) returns at once
  instead of waiting for the driver; the abandoned thread finishes on its own.
- ``limiter``: a ``trio.CapacityLimiter`` of the store's own, so a database outage (abandoned
  threads keep their token until the driver gives up) never starves trio's default limiter.
  With ``mongomock`` (not thread-safe) use ``max_threads=1``: every access is serialized.
- The driver times out first: ``timeout_ms`` is applied as ``serverSelectionTimeoutMS``,
  ``connectTimeoutMS``, ``socketTimeoutMS`` and ``timeoutMS`` and every operation also runs under
  ``pymongo.timeout``.  ``trio.fail_after(timeout + DEADLINE_SLACK_S)`` is the backstop (server
  selection waits in 0.5 s steps), covering the wait for a limiter token too.

Every failure leaves as ``InstructionsDBError`` (``map_db_error``), with
``context = {"operation": ..., "cause_type": ...}``:

=======================================================================  ==================
cause                                                                    reason
=======================================================================  ==================
``OperationFailure`` with code 18 (AuthenticationFailed) or 13           ``auth_failed``
(Unauthorized)
``ServerSelectionTimeoutError``, ``NetworkTimeout``, ``ExecutionTimeout``  ``db_timeout``
(any ``PyMongoError`` whose ``timeout`` is true), ``trio.TooSlowError``
``AutoReconnect``, ``ConnectionFailure``                                 ``db_unavailable``
any other ``PyMongoError``, a BSON encoding error                        ``db_error``
=======================================================================  ==================

Operation names: ``connect``, ``route_number``, ``fetch_state``, ``fetch_config``,
``fetch_prompt``, ``list_tenants``, ``list_routes``, ``ensure_indexes``, ``import``.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pymongo
import trio
from bson.errors import BSONError
from pymongo.errors import (
    ConnectionFailure,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from .errors import InstructionsDBError
from .health import DependencyHealth

T = TypeVar("T")

DEFAULT_DATABASE = "callvisor"
DEFAULT_TIMEOUT_MS = 2000
DEFAULT_MAX_THREADS = 8
#: Time the backstop deadline adds to the driver timeout: server selection waits in 0.5 s steps.
DEADLINE_SLACK_S = 1.0
#: How long operations fail at once after the server was found unreachable.
FAIL_FAST_S = 1.0
#: OperationFailure codes that mean the credentials were refused.
AUTH_ERROR_CODES = frozenset({18, 13})  # AuthenticationFailed, Unauthorized

_TIMEOUT_ERRORS = (ServerSelectionTimeoutError, NetworkTimeout, ExecutionTimeout, trio.TooSlowError)


def error_reason(exc: BaseException) -> str:
    """The ``InstructionsDBError`` reason for a driver (or deadline) error."""
    if isinstance(exc, OperationFailure) and exc.code in AUTH_ERROR_CODES:
        return "auth_failed"
    if isinstance(exc, _TIMEOUT_ERRORS) or (isinstance(exc, PyMongoError) and exc.timeout):
        return "db_timeout"
    if isinstance(exc, ConnectionFailure):  # AutoReconnect is one
        return "db_unavailable"
    return "db_error"


def map_db_error(
    operation: str, exc: BaseException, *, tenant_id: str | None = None
) -> InstructionsDBError:
    """The one seam: the ``InstructionsDBError`` that stands for ``exc`` (raise it ``from exc``).

    The message names the operation and the cause's type only: driver messages may name hosts.
    """
    reason = error_reason(exc)
    cause_type = type(exc).__name__
    return InstructionsDBError(
        f"MongoDB {operation} failed: {reason} ({cause_type})",
        reason=reason,
        tenant_id=tenant_id,
        context={"operation": operation, "cause_type": cause_type},
    )


def client_options(timeout_ms: int) -> dict[str, Any]:
    """The ``MongoClient`` keyword arguments for a driver timeout of ``timeout_ms``."""
    return {
        "serverSelectionTimeoutMS": timeout_ms,
        "connectTimeoutMS": timeout_ms,
        "socketTimeoutMS": timeout_ms,
        "timeoutMS": timeout_ms,
        "appname": "callvisor",
    }


class MongoStore:
    """A MongoDB database behind trio: every operation in a worker thread, bounded in time.

    ``client`` is a ``pymongo.MongoClient`` (or a ``mongomock.MongoClient`` in tests, with
    ``max_threads=1``); the store owns it and closes it in ``aclose``.  ``timeout_ms`` should
    match the client's own timeouts (``client_options``); ``open_mongo_store`` does both.
    """

    def __init__(
        self,
        client: Any,
        *,
        database: str = DEFAULT_DATABASE,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        max_threads: int = DEFAULT_MAX_THREADS,
    ) -> None:
        self.client = client
        self.database_name = database
        self.timeout_s = timeout_ms / 1000
        #: Longest wait of one ``run``: limiter token, driver timeout and its 0.5 s steps.
        self.deadline_s = self.timeout_s + DEADLINE_SLACK_S
        self.limiter = trio.CapacityLimiter(max_threads)
        self._close_limiter = trio.CapacityLimiter(1)
        self._db: Any = client[database]
        #: After a timeout or an unreachable server, operations fail at once until this time
        #: (trio clock), so one outage costs one driver timeout per FAIL_FAST_S, not one per
        #: operation: a webhook in an outage is answered in about one timeout.
        self._unreachable_until = -math.inf
        self._last_failure: InstructionsDBError | None = None
        #: What the operations found (GET /ready, callvisor_tenant_store_up); a fail-fast refusal
        #: is no news and is not counted.
        self.health = DependencyHealth("tenant_store")

    async def run(
        self, operation: str, fn: Callable[[Any], T], *, tenant_id: str | None = None
    ) -> T:
        """Run ``fn(database)`` in a worker thread and return its result.

        Blocks the calling task (never the event loop) for at most ``deadline_s``; a cancelled
        caller returns at once and the thread is abandoned.  Raises InstructionsDBError (reason
        and context as in the module's table), carrying ``tenant_id`` when given.
        """

        def call() -> T:
            with pymongo.timeout(self.timeout_s):
                return fn(self._db)

        last = self._last_failure
        if last is not None and trio.current_time() < self._unreachable_until:
            raise InstructionsDBError(
                f"MongoDB {operation} not tried: the store failed {FAIL_FAST_S:g} s ago ({last.reason})",
                reason=last.reason,
                tenant_id=tenant_id,
                context={**last.context, "operation": operation, "fail_fast": True},
            )
        try:
            with trio.fail_after(self.deadline_s):
                result = await trio.to_thread.run_sync(
                    call, abandon_on_cancel=True, limiter=self.limiter
                )
        except (trio.TooSlowError, PyMongoError, BSONError) as exc:
            error = map_db_error(operation, exc, tenant_id=tenant_id)
            self.health.failed(error.reason, action=operation)
            if error.reason in ("db_timeout", "db_unavailable"):
                self._last_failure = error
                self._unreachable_until = trio.current_time() + FAIL_FAST_S
            raise error from exc
        self._last_failure = None
        self.health.succeeded()
        return result

    async def ping(self) -> None:
        """One round trip to the server (``ping``); raises InstructionsDBError when it fails."""
        await self.run("ping", lambda db: db.command("ping"))

    async def aclose(self) -> None:
        """Close the client in a worker thread; shielded, and bounded by ``deadline_s``.

        It does not wait for operations abandoned by cancelled callers (they would hold
        ``limiter``): ``close`` is thread-safe in pymongo, and a no-op in mongomock.
        """
        with trio.move_on_after(self.deadline_s, shield=True):
            await trio.to_thread.run_sync(
                self.client.close, abandon_on_cancel=True, limiter=self._close_limiter
            )


@asynccontextmanager
async def open_mongo_store(
    uri: str,
    *,
    database: str = DEFAULT_DATABASE,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    max_threads: int = DEFAULT_MAX_THREADS,
) -> AsyncIterator[MongoStore]:
    """Create a ``MongoClient`` for ``uri`` (in a worker thread: ``mongodb+srv`` resolves DNS)
    and yield its store; the client is closed on exit.

    Nothing is contacted before the first operation (``connect=False``).  Raises
    InstructionsDBError (operation ``connect``, reason ``db_error``) when the driver refuses the
    URI (or a ``mongodb+srv`` name does not resolve).
    """
    limiter = trio.CapacityLimiter(1)
    options = client_options(timeout_ms)

    def connect() -> pymongo.MongoClient[dict[str, Any]]:
        return pymongo.MongoClient(uri, connect=False, **options)

    try:
        with trio.fail_after(timeout_ms / 1000 + DEADLINE_SLACK_S):
            client = await trio.to_thread.run_sync(
                connect, abandon_on_cancel=True, limiter=limiter
            )
    except (trio.TooSlowError, PyMongoError, ValueError) as exc:  # ValueError: a bad port
        raise map_db_error("connect", exc) from exc
    store = MongoStore(client, database=database, timeout_ms=timeout_ms, max_threads=max_threads)
    try:
        yield store
    finally:
        await store.aclose()
