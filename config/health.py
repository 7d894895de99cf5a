"""What callvisor knows of a dependency's health from the requests it made to it.

A :class:`DependencyHealth` is told of each request's end (:meth:`~DependencyHealth.succeeded`,
:meth:`~DependencyHealth.failed`) by the one place that makes such requests (the MongoDB store's
``run``, call control's ``_call``), and is read by the operator port (``GET /ready``) and the
metrics.  It lives in the lowest layer because the tenant store is there; it knows nothing of
either reader.

States: ``unknown`` (no request has ended yet), ``ok`` (the last one succeeded), ``failing``
(the last one failed; ``since`` is when the failures began, ``last_reason`` the latest's reason).
Times are wall-clock Unix seconds, for people; :meth:`~DependencyHealth.seconds_since_success`
is measured on the monotonic clock.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from attrs import define, field


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@define
class DependencyHealth:
    """The health of one dependency, as its requests found it."""

    name: str
    state: str = "unknown"
    #: When the current state began (wall clock).
    since: float | None = None
    last_reason: str | None = None
    last_failure_at: float | None = None
    last_success_at: float | None = None
    _last_success_mono: float | None = None
    #: Failed requests by (action, reason): call control's ``callvisor_call_control_failures_total``.
    failures: Counter[tuple[str, str]] = field(factory=Counter)

    def succeeded(self) -> None:
        now = time.time()
        if self.state != "ok":
            self.state, self.since = "ok", now
        self.last_success_at = now
        self._last_success_mono = time.monotonic()

    def failed(self, reason: str, *, action: str = "request") -> None:
        now = time.time()
        if self.state != "failing":
            self.state, self.since = "failing", now
        self.last_reason, self.last_failure_at = reason, now
        self.failures[(action, reason)] += 1

    def seconds_since_success(self) -> float | None:
        """Seconds since the last request that succeeded; None before the first."""
        if self._last_success_mono is None:
            return None
        return time.monotonic() - self._last_success_mono

    def view(self) -> dict[str, Any]:
        """The state as ``GET /ready`` shows it."""
        return {
            "state": self.state,
            "since": _iso(self.since),
            "last_reason": self.last_reason,
            "last_failure_at": _iso(self.last_failure_at),
            "last_success_at": _iso(self.last_success_at),
        }


@define
class Dependencies:
    """What the operator port and the metrics report of callvisor's dependencies.

    ``tenant_store`` is None when the tenants come from a file (read at start, in memory: nothing
    can fail at call time).  ``store_decides_admission`` is cluster mode: capacity leases live
    in the store, so while it fails new calls are refused and the replica is not ready.
    """

    call_control: DependencyHealth
    tenant_store: DependencyHealth | None = None
    store_decides_admission: bool = False
    #: Calls whose capacity lease was lost so far (cluster mode; always 0 otherwise).
    leases_lost: Callable[[], int] = lambda: 0

    def admits_calls(self) -> bool:
        """False when a failing store refuses every new call (cluster mode)."""
        store = self.tenant_store
        return not (self.store_decides_admission and store is not None and store.state == "failing")

    def view(self) -> dict[str, Any]:
        store = self.tenant_store
        return {
            "tenant_store": {"source": "file", "state": "ok"} if store is None else {"source": "mongodb", **store.view()},
            "call_control": self.call_control.view(),
        }
