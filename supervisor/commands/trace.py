"""``callvisor trace CALL_ID [FILE ...]``: one call's life, from its log, on the guide's eleven steps.

Reads callvisor's JSON log lines from each FILE (plain or gzip; none or ``-``: stdin), keeps the
call's lines, merges several files (replicas) by time and prints the troubleshooting guide's
"Trace Complete Call Lifecycle" steps, each passed, failed or not reached, with its time and
the time since the step before.  For a failed step it prints the event, the line's fields and
``error`` context, and the catalogue's cause and fixes, read from the event registry
(:data:`actors.log.EVENTS`) so that they say what docs/troubleshooting.md says.  ``--json``
prints the same as one JSON document.  Lines that are not JSON, not callvisor's, or of other
calls are skipped and counted.

Exit status: 0 when the call's lines were found (whatever its outcome), 1 when no line names
the call, 2 when a file cannot be opened.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from actors.log import EVENTS

from ._logread import STDIN, Entry, Skipped, open_sources, read_call
from ._timeline import Step, StepResult, Timeline, build_timeline

#: Fields of a line shown apart (or not at all) when a failing line is printed.
_SHOWN_APART = frozenset(("ts", "level", "logger", "msg", "event", "tenant_id", "call_id", "error"))


def load(call_id: str, paths: Sequence[str]) -> tuple[list[Entry], Skipped]:
    """The call's lines in ``paths`` (stdin when empty); raises OSError for an unreadable file."""
    if (not paths or STDIN in paths) and sys.stdin.isatty():
        sys.stderr.write("callvisor: reading the log from the terminal (Ctrl-D ends it); name FILEs "
                         "or pipe the log in\n")
    with open_sources(paths) as sources:
        return read_call(call_id, sources)


def load_reporting(call_id: str, paths: Sequence[str], err: TextIO) -> tuple[list[Entry], Skipped] | None:
    """:func:`load`, with what went wrong written to ``err``: the lines skipped, or (then None)
    the file that could not be read."""
    try:
        entries, skipped = load(call_id, paths)
    except OSError as exc:
        err.write(f"callvisor: {exc.filename or ''}: cannot read: {exc.strerror or exc}\n")
        return None
    for problem in skipped.problems:
        err.write(f"callvisor: {problem}\n")
    return entries, skipped


def run_trace(
    call_id: str, paths: Sequence[str], *, as_json: bool, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    if (loaded := load_reporting(call_id, paths, err)) is None:
        return 2
    entries, skipped = loaded
    if not entries:
        message = not_found_message(call_id, skipped)
        if as_json:
            out.write(json.dumps({"call_id": call_id, "found": False, "message": message,
                                  "skipped": skipped.as_dict()}, indent=2) + "\n")
        err.write(f"callvisor: {message}\n")
        return 1
    timeline = build_timeline(entries)
    if as_json:
        out.write(json.dumps(timeline_dict(call_id, timeline, skipped), indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(render_text(call_id, timeline, skipped))
    return 0


def not_found_message(call_id: str, skipped: Skipped) -> str:
    read = skipped.other_calls + skipped.not_json + skipped.malformed
    message = f"no line of call {call_id} in the {read} lines read"
    if skipped.unattributed_verification_failures:
        message += (
            f"; {skipped.unattributed_verification_failures} webhook_verification_failed line(s) "
            "carry no call_id (a webhook's body is read only after its signature verifies): if "
            "the call's webhook was one of them, it stopped at step 2, Webhook verified"
        )
    return message


# -- the pieces ----------------------------------------------------------------------------


def summary(entry: Entry) -> str:
    """``event(reason)``: the event and the reason a grep would look for."""
    line = entry.line
    error = line.get("error")
    reason = (error.get("reason") if isinstance(error, dict) else None) or line.get("reason")
    return f"{entry.event}({reason})" if isinstance(reason, str) and reason else str(entry.event)


def failure_dict(entry: Entry) -> dict[str, Any]:
    """The failing line, and what the catalogue says about its event."""
    line = entry.line
    found = EVENTS.get(entry.event or "")
    return {
        "event": entry.event,
        "level": line.get("level"),
        "ts": entry.ts,
        "replica": entry.replica,
        "msg": line.get("msg"),
        "fields": {k: v for k, v in line.items() if k not in _SHOWN_APART},
        "error": line.get("error"),
        "cause": found.cause if found else None,
        "response": found.response if found else None,
        "fixes": [{"when": when, "what": what} for when, what in found.fixes] if found else [],
    }


def _entry_dict(entry: Entry) -> dict[str, Any]:
    return {"ts": entry.ts, "event": entry.event, "level": entry.line.get("level"),
            "summary": summary(entry), "replica": entry.replica, "source": entry.source,
            "line_number": entry.number}


def _step_dict(result: StepResult) -> dict[str, Any]:
    step: Step = result.step
    return {
        "number": step.number,
        "title": step.title,
        "check": step.check,
        "status": result.status,
        "continued": result.continued,
        "ts": result.ts,
        "ts_inferred": result.ts_inferred,
        "since_previous_ms": result.since_previous_ms,
        "inferred": step.inferred if result.status == "passed" and not _own(result) else None,
        "events": [_entry_dict(entry) for entry in result.entries],
        "failure": failure_dict(result.failure) if result.failure is not None else None,
    }


def _own(result: StepResult) -> bool:
    return any(entry.event in result.step.events for entry in result.entries)


def _attempt_dicts(timeline: Timeline) -> list[dict[str, Any]]:
    shown = []
    for number, attempt in enumerate(timeline.attempts, 1):
        last = attempt[-1]
        shown.append({"number": number, "lines": len(attempt), "first_ts": attempt[0].ts,
                      "last_ts": last.ts, "ended_with": summary(last)})
    return shown


def timeline_dict(call_id: str, timeline: Timeline, skipped: Skipped) -> dict[str, Any]:
    entries = [e for attempt in timeline.attempts for e in attempt]
    return {
        "call_id": call_id,
        "found": True,
        "tenant_id": timeline.tenant_id,
        "outcome": timeline.outcome,
        "replicas": sorted({e.replica for e in entries}),
        "lines": len(entries),
        "attempts": _attempt_dicts(timeline),
        "steps": [_step_dict(result) for result in timeline.steps],
        "skipped": skipped.as_dict(),
    }


# -- text ----------------------------------------------------------------------------------

_MARK = {"passed": "passed", "failed": "FAILED", "not_reached": "not reached"}


def render_text(call_id: str, timeline: Timeline, skipped: Skipped) -> str:
    entries = [e for attempt in timeline.attempts for e in attempt]
    replicas = sorted({e.replica for e in entries})
    many = len(replicas) > 1
    lines = [
        f"call {call_id}  tenant {timeline.tenant_id or '-'}  "
        f"({len(entries)} line{'' if len(entries) == 1 else 's'}; replica{'s' if many else ''} {', '.join(replicas)})",
        f"outcome: {timeline.outcome}",
    ]
    if len(timeline.attempts) > 1:
        for attempt in _attempt_dicts(timeline)[:-1]:
            lines.append(
                f"attempt {attempt['number']} of {len(timeline.attempts)}: {attempt['ended_with']} at "
                f"{attempt['last_ts']}, answered 503; OpenAI delivered the webhook again"
            )
    lines.append("")
    lines.append(f" #  {'step':<21} {'status':<17} {'time (UTC)':<25} {'since prev':>11}  events")
    for result in timeline.steps:
        mark = _MARK[result.status] + (" (went on)" if result.continued else "")
        when = (result.ts or "-") + ("~" if result.ts_inferred else "")
        since = f"+{result.since_previous_ms:g} ms" if result.since_previous_ms is not None else ""
        shown = ", ".join(summary(e) + (f"@{e.replica}" if many else "") for e in result.entries)
        if result.status == "passed" and not _own(result):
            shown = f"{shown}; inferred" if shown else "inferred"
        lines.append(
            f"{result.step.number:>2}  {result.step.title:<21} {mark:<17} {when:<25} {since:>11}  {shown}".rstrip()
        )
    if timeline.steps[0].ts_inferred:
        lines.append("~ inferred: call_accepted's time less its decision_ms and accept_ms")
    for result in timeline.failures:
        assert result.failure is not None
        lines.append("")
        lines.extend(_render_failure(result))
    lines.append("")
    lines.append(
        f"skipped: {skipped.other_calls} lines of other calls or of no call, {skipped.not_json} not "
        f"JSON, {skipped.malformed} malformed"
    )
    return "\n".join(lines) + "\n"


def _render_failure(result: StepResult) -> list[str]:
    assert result.failure is not None
    shown = failure_dict(result.failure)
    went_on = " (the call went on)" if result.continued else ""
    lines = [
        f"step {result.step.number} ({result.step.title}) failed{went_on}: {shown['event']} "
        f"{shown['level']} at {shown['ts']} on {shown['replica']}",
        f"  message: {shown['msg']}",
    ]
    if shown["fields"]:
        fields = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in shown["fields"].items())
        lines.append(f"  fields: {fields}")
    if shown["error"] is not None:
        lines.append(f"  error: {json.dumps(shown['error'], ensure_ascii=False, sort_keys=True)}")
    if shown["cause"]:
        lines.append(f"  cause: {shown['cause']}")
        lines.append(f"  response: {shown['response']}")
    for fix in shown["fixes"]:
        lines.append(f"  - {fix['when']}: {fix['what']}")
    return lines
