"""The fault matrix: what callvisor does when something it depends on misbehaves.

:data:`FAULTS` is the one table.  It renders the section "Faults and what callvisor does" of
``docs/operations.md`` (between :data:`BEGIN` and :data:`END`; ``make docs`` rewrites it), and
``tests/faults/`` injects every row's fault into a real callvisor against the simulated
platform and checks that what happens is what the row says: the webhook's answer, the
call-control requests OpenAI received, the log event and its reason, how the call ended and
the metric.  A test fails when the page, the table or the behaviour drift apart, and when a
row's event or reason is missing from the troubleshooting catalogue.

``CALL_ID`` in a webhook body and ``TOOL`` in a metric stand for the call's id and the
tenant's tool name.
"""

from __future__ import annotations

from attrs import frozen

BEGIN = "<!-- faults:begin -->"
END = "<!-- faults:end -->"


@frozen(kw_only=True)
class Fault:
    """One fault and its documented outcome."""

    #: The test id, snake_case.
    name: str
    #: What misbehaves: ``call control``, ``sideband``, ``tenant store`` or ``http tool``.
    area: str
    #: The fault, as an operator would describe it.
    fault: str
    #: What the caller hears.
    caller: str
    #: The call-control requests OpenAI receives for the call, in order.
    openai: tuple[str, ...]
    #: The webhook's answer: status and JSON body; None when the fault comes after it.
    webhook_status: int | None
    webhook_body: str | None
    #: The event logged for the fault (in the troubleshooting catalogue) and its reason code.
    event: str
    reason: str
    #: Fields of the event's ``error.context`` the row pins, e.g. ``(("status", 429),)``.
    context: tuple[tuple[str, object], ...] = ()
    #: The call's ``call_ended`` reason; None when no call was accepted, or the call goes on.
    ends: str | None = None
    #: Prometheus samples that count the fault, as scraped.
    metrics: tuple[str, ...] = ()


_RETRY_ACCEPT = '{"ok": false, "error": "call_accept_failed", "retry": true}'
_RETRY_REJECT = '{"ok": false, "error": "call_reject_failed", "retry": true}'
_ACCEPTED = '{"ok": true, "accepted": CALL_ID}'
_FAILED_ACCEPT = ('callvisor_calls_total{outcome="failed",reason="call_accept_failed"}', 'callvisor_webhooks_total{result="retry"}')
_FAILED_REJECT = ('callvisor_calls_total{outcome="failed",reason="call_reject_failed"}', 'callvisor_webhooks_total{result="retry"}')
_RINGS = "Ringing goes on; OpenAI delivers the webhook again and the redelivery is decided afresh"
_HUNG_UP = "Nothing more: the call was ending; OpenAI ends it on its side when the session times out"

#: How each call-control request fails: (name, fault text, reason, context).
_CONTROL_FAILURES: tuple[tuple[str, str, str, tuple[tuple[str, object], ...]], ...] = (
    ("slow", "answered later than `CALLVISOR_CALL_CONTROL_TIMEOUT_S`", "timeout", ()),
    ("429", "answered 429 (rate limited)", "openai_4xx", (("status", 429),)),
    ("5xx", "answered 503", "openai_5xx", (("status", 503),)),
    ("closed", "gets its connection closed, no answer", "connection_error", ()),
    ("reset", "gets its connection reset, no answer", "connection_error", ()),
)


def _control_rows() -> list[Fault]:
    rows = [
        Fault(
            name=f"accept_{kind}", area="call control", fault=f"accept {text}", caller=_RINGS,
            openai=("accept",), webhook_status=503, webhook_body=_RETRY_ACCEPT,
            event="call_accept_failed", reason=reason, context=context, metrics=_FAILED_ACCEPT,
        )
        for kind, text, reason, context in _CONTROL_FAILURES
    ]
    rows += [
        Fault(
            name=f"reject_{kind}", area="call control", fault=f"reject {text}", caller=_RINGS,
            openai=("reject",), webhook_status=503, webhook_body=_RETRY_REJECT,
            event="call_reject_failed", reason=reason, context=context, metrics=_FAILED_REJECT,
        )
        for kind, text, reason, context in _CONTROL_FAILURES
    ]
    rows += [
        Fault(
            name=f"hangup_{kind}", area="call control",
            fault=f"hangup at the end of a call (here an operator hangup) {text}",
            caller=_HUNG_UP, openai=("accept", "hangup"), webhook_status=200,
            webhook_body=_ACCEPTED, event="call_hangup_failed", reason=reason,
            context=context, ends="operator_hangup",
            metrics=('callvisor_calls_total{outcome="ended",reason="operator_hangup"}',),
        )
        for kind, text, reason, context in _CONTROL_FAILURES
    ]
    rows.insert(
        len(_CONTROL_FAILURES),
        Fault(
            name="accept_untrusted_certificate", area="call control",
            fault="OpenAI's certificate is from a CA not in the trust store (TLS handshake fails)",
            caller=_RINGS, openai=(), webhook_status=503, webhook_body=_RETRY_ACCEPT,
            event="call_accept_failed", reason="tls_error",
            context=(("tls_reason", "certificate verify failed: unable to get local issuer certificate"),),
            metrics=_FAILED_ACCEPT,
        )
    )
    return rows


_START_FAILED = ('callvisor_calls_total{outcome="ended",reason="session_start_failed"}',)
_SILENCE_THEN_HANGUP = "Silence, then the call is hung up, `CALL_SESSION_START_TIMEOUT_S` after the accept"

_SIDEBAND_ROWS = [
    Fault(
        name="sideband_handshake_stalls", area="sideband",
        fault="the sideband accepts TCP and never answers the websocket upgrade",
        caller=_SILENCE_THEN_HANGUP, openai=("accept", "hangup"), webhook_status=200,
        webhook_body=_ACCEPTED, event="call_session_start_failed", reason="timeout",
        ends="session_start_failed", metrics=_START_FAILED,
    ),
    Fault(
        name="sideband_tls_handshake_stalls", area="sideband",
        fault="the sideband accepts TCP and never answers the TLS handshake",
        caller=_SILENCE_THEN_HANGUP, openai=("accept", "hangup"), webhook_status=200,
        webhook_body=_ACCEPTED, event="call_session_start_failed", reason="timeout",
        ends="session_start_failed", metrics=_START_FAILED,
    ),
    Fault(
        name="sideband_untrusted_certificate", area="sideband",
        fault="the sideband's certificate is from a CA not in the trust store",
        caller="Silence, then the call is hung up at once", openai=("accept", "hangup"),
        webhook_status=200, webhook_body=_ACCEPTED, event="call_session_start_failed",
        reason="tls_error", ends="session_start_failed", metrics=_START_FAILED,
    ),
    Fault(
        name="sideband_silent", area="sideband",
        fault="the sideband finishes the handshake and never sends anything (no `session.created`)",
        caller=_SILENCE_THEN_HANGUP, openai=("accept", "hangup"), webhook_status=200,
        webhook_body=_ACCEPTED, event="call_session_start_failed", reason="timeout",
        ends="session_start_failed", metrics=_START_FAILED,
    ),
]

_DOWNTIME = "The downtime greeting (`DOWNTIME_GREETING`), the model told `DOWNTIME_PROMPT`, no tools"
_FALLBACK = ("fallback_instructions_used_total",)

_STORE_ROWS = [
    Fault(
        name="store_down", area="tenant store",
        fault="MongoDB down: nothing listens on `MONGODB_URI`'s port",
        caller=_DOWNTIME, openai=("accept",), webhook_status=200, webhook_body=_ACCEPTED,
        event="instructions_db_error", reason="db_timeout", metrics=_FALLBACK,
    ),
    Fault(
        name="store_slow", area="tenant store",
        fault="MongoDB slow: it accepts connections and answers nothing within `MONGODB_TIMEOUT_MS`",
        caller=_DOWNTIME, openai=("accept",), webhook_status=200, webhook_body=_ACCEPTED,
        event="instructions_db_error", reason="db_timeout", metrics=_FALLBACK,
    ),
    Fault(
        name="store_flapping", area="tenant store",
        fault="MongoDB flapping: reachable, then not, then again, call after call",
        caller="The tenant's own greeting while the store answers; the downtime greeting while it "
        "does not, and for 1 s after each failure (the store is not retried sooner)",
        openai=("accept",), webhook_status=200, webhook_body=_ACCEPTED,
        event="instructions_db_error", reason="db_timeout", metrics=_FALLBACK,
    ),
]

_TOLD = "The model is told the tool failed (`{\"ok\": false, \"error\": REASON}`) and says so; the call goes on"

_TOOL_ROWS = [
    Fault(
        name="tool_hangs", area="http tool",
        fault="an http tool accepts the request and never answers",
        caller=_TOLD + ", after the tool's `timeout_s`", openai=("accept",), webhook_status=None,
        webhook_body=None, event="tool_execution_failed", reason="tool_timeout",
        metrics=('callvisor_tool_runs_total{tool="TOOL",outcome="tool_timeout"}',),
    ),
    Fault(
        name="tool_answers_huge", area="http tool",
        fault="an http tool answers 50 MiB",
        caller=_TOLD + "; reading stops at the tool's `max_response_bytes`", openai=("accept",),
        webhook_status=None, webhook_body=None, event="tool_execution_failed",
        reason="tool_response_too_large",
        metrics=('callvisor_tool_runs_total{tool="TOOL",outcome="tool_response_too_large"}',),
    ),
    Fault(
        name="tool_redirects", area="http tool",
        fault="an http tool answers 302 to another URL",
        caller=_TOLD + "; the redirect is not followed", openai=("accept",), webhook_status=None,
        webhook_body=None, event="tool_execution_failed", reason="tool_http_error",
        context=(("status", 302),),
        metrics=('callvisor_tool_runs_total{tool="TOOL",outcome="tool_http_error"}',),
    ),
]

#: Every fault, in the order of the page.
FAULTS: tuple[Fault, ...] = (*_control_rows(), *_SIDEBAND_ROWS, *_STORE_ROWS, *_TOOL_ROWS)


def faults_of(area: str) -> list[Fault]:
    return [fault for fault in FAULTS if fault.area == area]


# -- the page --------------------------------------------------------------------------------


def render_faults_section() -> str:
    """The Markdown between :data:`BEGIN` and :data:`END` in docs/operations.md."""
    lines = [
        "<!-- Generated from supervisor/commands/faults.py by `make docs`; tests/faults/ injects "
        "each row and checks it. -->",
        "",
        "| Fault | What the caller hears; what OpenAI receives | Webhook answer | Event (reason) | "
        "Call ends | Metric |",
        "|---|---|---|---|---|---|",
    ]
    for fault in FAULTS:
        openai = ", ".join(f"`{action}`" for action in fault.openai) or "nothing (no request got through)"
        answer = (
            f"{fault.webhook_status} `{fault.webhook_body}`" if fault.webhook_status is not None
            else "(mid-call: none)"
        )
        context = "".join(f", `{key}` `{value}`" for key, value in fault.context)
        event = f"[`{fault.event}`](troubleshooting.md#{fault.event}) (`{fault.reason}`{context})"
        if fault.ends is not None:
            ends = f"`{fault.ends}`"
        else:
            ends = "goes on" if fault.webhook_status in (None, 200) else "not accepted"
        metrics = ", ".join(f"`{metric}`" for metric in fault.metrics) or "none of its own: the log event"
        lines.append(
            "| " + " | ".join(
                [f"{fault.area}: {fault.fault}", f"{fault.caller}. OpenAI receives: {openai}",
                 answer, event, ends, metrics]
            ).replace("\n", " ") + " |"
        )
    return "\n".join(lines) + "\n"


def update_operations(text: str) -> str:
    """``text`` (docs/operations.md) with its faults section replaced by the rendered table."""
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{render_faults_section()}{END}{tail}"
