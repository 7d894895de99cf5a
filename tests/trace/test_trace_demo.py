"""``callvisor trace`` on the log of ``callvisor demo``: every scenario's call at the guide's step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actors.log import EVENTS
from supervisor.commands.cli import main
from tests.trace.tracing import statuses, trace, traced

ALL = tuple(range(1, 12))


def upto(last: int) -> list[int]:
    return list(range(1, last + 1))


#: call_id -> (steps passed, steps failed, the failing event of the first failed step, end reason)
EXPECTED: dict[str, tuple[list[int], list[int], str | None, str | None]] = {
    "rtc_demo_healthy": (upto(11), [], None, "caller_hangup"),
    "rtc_demo_unknown": (upto(3), [4], "tenant_resolution_failed", None),
    "rtc_demo_initech": (upto(5), [6], "tenant_not_configured", None),
    "rtc_demo_umbrella": (upto(5), [6], "instructions_missing", None),
    "rtc_demo_hooli": (upto(6), [7], "tenant_config_parse_error", None),
    "rtc_demo_piedpiper": ([*upto(7), 9, 10, 11], [8], "tool_build_error", "caller_hangup"),
    "rtc_demo_duplicate": (upto(11), [], None, "caller_hangup"),
    "rtc_demo_retry": (upto(11), [], None, "caller_hangup"),
    "rtc_demo_globex_1": (upto(11), [], None, "caller_hangup"),
    "rtc_demo_globex_2": (upto(4), [5], "call_rejected", None),
    "rtc_demo_tool_unknown": (upto(11), [], None, "caller_hangup"),
    "rtc_demo_tool_args": (upto(11), [], None, "caller_hangup"),
    "rtc_demo_tool_fail": (upto(11), [], None, "caller_hangup"),
    "rtc_demo_tool_ok": (upto(11), [], None, "caller_hangup"),
    "rtc_demo_end_call": (upto(11), [], None, "end_call"),
    "rtc_demo_transfer": (upto(11), [], None, "transferred"),
    "rtc_demo_hangup": (upto(11), [], None, "caller_hangup"),
    "rtc_demo_no_session": ([*upto(9), 11], [10], "call_session_start_failed", "session_start_failed"),
    "rtc_demo_operator": (upto(11), [], None, "operator_hangup"),
    # GPT-Live: the same steps; an ignored webhook (the other runtime's) stops after step 2.
    "live_demo_healthy": (upto(11), [], None, "caller_hangup"),
    "rtc_demo_pair": (upto(2), [], None, None),
    "live_demo_pair": (upto(11), [], None, "caller_hangup"),
    "live_demo_end": (upto(11), [], None, "end_call"),
    "live_demo_transfer": (upto(11), [], None, "transferred"),
    "live_demo_expired": (upto(11), [], None, "session_expired"),
    "live_demo_lost": (upto(11), [], None, "caller_hangup"),
    "live_demo_unknown": (upto(2), [], None, None),
}


def test_every_call_of_the_demo_has_an_expectation(demo_log: Path) -> None:
    """Each call_id in the demo's log is one of the traced scenarios (a new scenario needs a row)."""
    call_ids = {json.loads(line)["call_id"] for line in demo_log.read_text().splitlines()}
    assert call_ids - {None} == set(EXPECTED)


@pytest.mark.parametrize("call_id", sorted(EXPECTED))
def test_each_demo_call_is_traced_to_its_step(demo_log: Path, call_id: str) -> None:
    """Passed, failed and not-reached steps, the failing event and the end reason of each call."""
    passed, failed, event, end = EXPECTED[call_id]
    document = traced(call_id, demo_log)
    found = statuses(document)
    assert found["passed"] == passed
    assert found["failed"] == failed
    assert found["not_reached"] == [n for n in ALL if n not in passed and n not in failed]
    if failed:
        assert document["steps"][failed[0] - 1]["failure"]["event"] == event
    ended = [e for e in document["steps"][10]["events"] if e["event"] == "call_ended"]
    assert [e["summary"] for e in ended] == ([f"call_ended({end})"] if end else [])


def test_the_failing_step_carries_the_line_and_the_catalogue(demo_log: Path) -> None:
    """A rejected config: the error context as logged and the registry's cause, response, fixes."""
    failure = traced("rtc_demo_hooli", demo_log)["steps"][6]["failure"]
    entry = EVENTS["tenant_config_parse_error"]
    assert failure["error"]["error_type"] == "TenantConfigParseError"
    assert failure["error"]["reason"] == "config_invalid"
    assert failure["error"]["context"]["errors"]
    assert failure["cause"] == entry.cause
    assert failure["response"] == entry.response
    assert failure["fixes"] == [{"when": when, "what": what} for when, what in entry.fixes]


def test_a_capacity_rejection_reads_as_such_in_text(demo_log: Path) -> None:
    """The text view: step 5 FAILED with the reason, the later steps not reached, the fix shown."""
    status, out, _ = trace("rtc_demo_globex_2", demo_log, as_json=False)
    assert status == 0
    rows = {line[:2].strip(): line for line in out.splitlines() if line[:2].strip().isdigit()}
    assert "FAILED" in rows["5"]
    assert "call_rejected(tenant_capacity)" in rows["5"]
    assert all("not reached" in rows[str(n)] for n in range(6, 12))
    assert "outcome: rejected at step 5 (capacity, reason tenant_capacity, SIP 486)" in out
    assert EVENTS["call_rejected"].fixes[0][1] in out


def test_a_redelivered_call_shows_the_failed_attempt_first(demo_log: Path) -> None:
    """Accept answered 500, then redelivered: two attempts, the first ended call_accept_failed."""
    document = traced("rtc_demo_retry", demo_log)
    assert [a["ended_with"] for a in document["attempts"]] == [
        "call_accept_failed(openai_5xx)", "call_ended(caller_hangup)",
    ]
    assert document["outcome"].startswith("accepted; ended caller_hangup")


def test_duplicates_and_tool_failures_are_shown_where_they_happened(demo_log: Path) -> None:
    """A redelivery sits at step 3; a tool failure during the call at step 11; neither fails one."""
    duplicate = traced("rtc_demo_duplicate", demo_log)["steps"][2]["events"]
    assert [e["event"] for e in duplicate] == ["duplicate_webhook_id"]
    during = traced("rtc_demo_tool_fail", demo_log)["steps"][10]["events"]
    assert [e["summary"] for e in during] == ["tool_execution_failed(tool_http_error)", "call_ended(caller_hangup)"]


def test_times_and_durations_between_steps(demo_log: Path) -> None:
    """Accepted calls: step 1's time inferred from decision_ms and accept_ms; later steps timed."""
    steps = traced("rtc_demo_no_session", demo_log)["steps"]
    assert steps[0]["ts_inferred"] is True
    assert steps[0]["ts"] <= steps[8]["ts"] <= steps[9]["ts"] <= steps[10]["ts"]
    # The sideband was refused until CALL_SESSION_START_TIMEOUT_S (2 s in the demo) ran out.
    assert steps[9]["since_previous_ms"] > 1000
    assert steps[10]["since_previous_ms"] >= 0


def test_a_forged_webhook_cannot_be_traced_and_says_why(demo_log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The bad-signature call left no line with its id: exit 1, and the message points at step 2."""
    assert main(["trace", "rtc_demo_forged", str(demo_log)]) == 1
    err = capsys.readouterr().err
    assert "no line of call rtc_demo_forged" in err
    assert "1 webhook_verification_failed line(s) carry no call_id" in err
    assert "step 2, Webhook verified" in err


def test_an_unknown_call_id_exits_1_with_a_clear_message(demo_log: Path) -> None:
    """A call id the log never names: exit 1, a message naming it, and --json says found false."""
    status, out, err = trace("rtc_never_seen", demo_log)
    assert status == 1
    assert err.startswith("callvisor: no line of call rtc_never_seen in the ")
    assert json.loads(out)["found"] is False
