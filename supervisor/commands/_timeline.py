"""One call's log lines laid out on the troubleshooting guide's eleven steps (private; see trace.py).

:data:`STEPS` says which events belong to which step and, for a step that logs nothing when it
passes, how its passing is inferred (docs/operations.md, "Tracing a call", has the same table;
a test keeps the two in step).  :func:`build_timeline` marks each step ``passed``, ``failed``
or ``not_reached``.  Two failures let the call go on, and are marked so (``continued``):
``instructions_db_error`` (the downtime prompts are used) and ``tool_build_error`` (no tools).

A decision that failed (``call_accept_failed``, ``call_reject_failed``, a crash before the
decision) answered the webhook 503, and OpenAI delivers it again: the lines after it are a new
*attempt*.  The timeline is the last attempt's; the earlier ones are summed up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from attrs import define, field, frozen

from ._logread import Entry, parse_ts


@frozen(kw_only=True)
class Step:
    """One step of the guide: its words, its events, and how it is known to have passed."""

    number: int
    title: str
    check: str
    events: tuple[str, ...]
    inferred: str = ""


STEPS: tuple[Step, ...] = (
    Step(number=1, title="Incoming webhook", check="realtime.call.incoming", events=(),
         inferred="any line of the call: a call_id is read only from an incoming-call webhook; "
         "the time is call_accepted's less its decision_ms and accept_ms"),
    Step(number=2, title="Webhook verified", check="no webhook_verification_failed",
         events=("webhook_verification_failed",),
         inferred="any line of the call: the body (and its call_id) is read only after the "
         "signature verified, so a failed check leaves no line with the call_id"),
    Step(number=3, title="Deduplicated", check="duplicate_webhook_id", events=("duplicate_webhook_id",),
         inferred="a line of step 4 or later: the first delivery was decided; each "
         "duplicate_webhook_id is a redelivery answered from the ledger"),
    Step(number=4, title="Tenant resolved", check="tenant_resolution_failed",
         events=("tenant_resolution_failed",),
         inferred="a line of step 5 or later: they carry the tenant_id"),
    Step(number=5, title="Capacity checked", check='rejected: "capacity"',
         events=("call_rejected", "cluster_store_unavailable"),
         inferred="a line of step 6 or later: the slot is taken before instructions are fetched"),
    Step(number=6, title="Instructions fetched", check="instructions_missing or instructions_db_error",
         events=("instructions_missing", "instructions_db_error", "tenant_not_configured"),
         inferred="a line of step 7 or later"),
    Step(number=7, title="Config loaded", check="tenant_config_parse_error",
         events=("tenant_config_parse_error", "tenant_not_configured"),
         inferred="a line of step 8 or later"),
    Step(number=8, title="Tools built", check="tool_build_error", events=("tool_build_error",),
         inferred="call_accepted (its tools field lists them)"),
    Step(number=9, title="Call accepted", check="call_accepted",
         events=("call_accepted", "call_accept_failed", "call_gone")),
    Step(number=10, title="Session started", check="call_session_start_failed",
         events=("call_session_started", "call_session_start_failed")),
    Step(number=11, title="Call ended", check="realtime.call.ended",
         events=("call_ended", "sideband_closed_abnormally", "call_hangup_failed"),
         inferred="call_ended (callvisor ignores the realtime.call.ended webhook)"),
)

STATUSES = ("passed", "failed", "not_reached")

#: The step of a rejection, by the ``rejected`` field of call_rejected.
_REJECTED_AT = {
    "tenant_resolution_failed": 4,
    "capacity": 5,
    "draining": 5,
    "capacity_unavailable": 5,
    "instructions_missing": 6,
    "tenant_not_configured": 6,
    "tenant_config_parse_error": 7,
}
_FIXED_STEP = {
    "webhook_verification_failed": 2,
    "duplicate_webhook_id": 3,
    "tenant_resolution_failed": 4,
    "cluster_store_unavailable": 5,
    "instructions_missing": 6,
    "instructions_db_error": 6,
    "tenant_config_parse_error": 7,
    "tool_build_error": 8,
    "call_accepted": 9,
    "call_accept_failed": 9,
    "call_session_started": 10,
    "call_session_start_failed": 10,
    "call_ended": 11,
    "sideband_closed_abnormally": 11,
    "call_hangup_failed": 11,
}
#: Events that fail their step.
FAILURES = frozenset((
    "webhook_verification_failed", "tenant_resolution_failed", "cluster_store_unavailable",
    "instructions_missing", "instructions_db_error", "tenant_not_configured",
    "tenant_config_parse_error", "tool_build_error", "call_accept_failed", "call_gone",
    "call_actor_crashed", "call_session_start_failed", "sideband_closed_abnormally",
    "call_hangup_failed",
))
#: Failures after which the call goes on.
CONTINUED = frozenset(("instructions_db_error", "tool_build_error"))
#: Decisions that answered 503: OpenAI delivers the webhook again.
_RETRIED = frozenset(("call_accept_failed", "call_reject_failed"))
_DECIDED = frozenset(("call_accepted", "call_rejected", "call_gone", *_RETRIED))


@define
class StepResult:
    """What the log says about one step."""

    step: Step
    status: str = "not_reached"
    entries: list[Entry] = field(factory=list)
    failure: Entry | None = None
    ts: str | None = None
    ts_inferred: bool = False
    since_previous_ms: float | None = None

    @property
    def continued(self) -> bool:
        return self.failure is not None and self.failure.event in CONTINUED


@define
class Timeline:
    """The last attempt on the eleven steps, and what came before it."""

    steps: list[StepResult]
    attempts: list[list[Entry]]
    outcome: str

    @property
    def failures(self) -> list[StepResult]:
        return [result for result in self.steps if result.status == "failed"]

    @property
    def tenant_id(self) -> str | None:
        for attempt in reversed(self.attempts):
            for entry in attempt:
                tenant = entry.line.get("tenant_id")
                if isinstance(tenant, str) and tenant:
                    return tenant
        return None


def step_of(entry: Entry, current: int) -> int:
    """The step ``entry`` belongs to; ``current`` is the furthest step seen so far."""
    event, line = entry.event, entry.line
    if event == "call_rejected":
        return _REJECTED_AT.get(str(line.get("rejected")), max(current, 4))
    if event == "tenant_not_configured":
        return 7 if _reason(line) == "config_doc_missing" else 6
    if event == "call_gone":
        return 9 if current <= 9 else 11
    if event == "call_actor_crashed":
        return min(max(current + 1, 4), 11)
    if event in _FIXED_STEP:
        return _FIXED_STEP[event]
    # Anything else happened during the step reached last; once the session is up (or failed
    # to come up), that is the call itself, step 11.
    return 11 if current >= 10 else max(current, 1)


def _reason(line: dict[str, Any]) -> str | None:
    error = line.get("error")
    reason = error.get("reason") if isinstance(error, dict) else None
    return reason if isinstance(reason, str) else None


def split_attempts(entries: Sequence[Entry]) -> list[list[Entry]]:
    """The call's lines cut after each decision that was answered 503."""
    attempts: list[list[Entry]] = [[]]
    decided = False
    for entry in entries:
        attempts[-1].append(entry)
        if entry.event in _DECIDED:
            decided = True
        retried = entry.event in _RETRIED or (entry.event == "call_actor_crashed" and not decided)
        if retried:
            attempts.append([])
            decided = False
    if not attempts[-1] and len(attempts) > 1:
        attempts.pop()
    return attempts


def build_timeline(entries: Sequence[Entry]) -> Timeline:
    """The eleven steps of the call whose lines are ``entries`` (in time order, not empty)."""
    attempts = split_attempts(entries)
    results = [StepResult(step) for step in STEPS]
    current = 1
    for entry in attempts[-1]:
        number = step_of(entry, current)
        result = results[number - 1]
        result.entries.append(entry)
        if entry.event in FAILURES and result.failure is None:
            result.failure = entry
        if entry.event == "call_rejected" and result.failure is None:
            result.failure = entry  # capacity and draining have no event but the rejection
        if entry.event != "duplicate_webhook_id" and result.ts is None:
            result.ts = entry.ts
        current = max(current, number)
    _mark(results)
    _time(results, attempts[-1])
    return Timeline(steps=results, attempts=attempts, outcome=_outcome(results))


def _mark(results: list[StepResult]) -> None:
    furthest = max(
        (r.step.number for r in results if any(e.event != "duplicate_webhook_id" for e in r.entries)),
        default=0,
    )
    stopped = False
    for result in results:
        number = result.step.number
        if stopped:
            break
        if result.failure is not None:
            result.status = "failed"
            stopped = not result.continued and number < 10
        elif number <= furthest or (number <= 3 and result.entries):
            result.status = "passed"
    passed_any = any(r.status != "not_reached" for r in results)
    if passed_any:
        for result in results[:2]:
            if result.status == "not_reached":
                result.status = "passed"


def _time(results: list[StepResult], entries: list[Entry]) -> None:
    first = results[0]
    accepted = next((e for e in entries if e.event == "call_accepted"), None)
    if accepted is not None:
        spent_ms = _number(accepted.line.get("decision_ms")) + _number(accepted.line.get("accept_ms"))
        received = datetime.fromtimestamp(accepted.seconds - spent_ms / 1000, UTC)
        first.ts = received.strftime("%Y-%m-%dT%H:%M:%S.") + f"{received.microsecond // 1000:03d}Z"
        first.ts_inferred = True
    previous: float | None = None
    for result in results:
        if result.ts is None:
            continue
        seconds = parse_ts(result.ts)
        if previous is not None:
            result.since_previous_ms = round((seconds - previous) * 1000, 3)
        previous = seconds


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _outcome(results: list[StepResult]) -> str:
    """One line: how the call ended, as far as the log tells."""
    by_number = {r.step.number: r for r in results}
    fatal = next((r for r in results if r.failure is not None and not r.continued), None)
    ended = next((e for e in by_number[11].entries if e.event == "call_ended"), None)
    rejected = next((e for r in results for e in r.entries if e.event == "call_rejected"), None)
    if rejected is not None:
        return (
            f"rejected at step {step_of(rejected, 4)} ({rejected.line.get('rejected')}, "
            f"reason {rejected.line.get('reason')}, SIP {rejected.line.get('sip_status')})"
        )
    if fatal is not None and fatal.step.number <= 9:
        assert fatal.failure is not None
        return f"not accepted: {fatal.failure.event} at step {fatal.step.number}"
    if ended is not None:
        return f"accepted; ended {ended.line.get('reason')} after {ended.line.get('duration_s')} s"
    if by_number[9].status == "passed":
        return "accepted; no call_ended in the log (still live, or the log stops early)"
    return "undecided in this log"
