"""The one registry of log events callvisor emits.

``docs/troubleshooting.md`` is generated from :data:`EVENTS` (``callvisor docs troubleshooting``),
and a test fails when the two drift.  Every ``log_event`` call names an event registered here; an
unregistered name is still logged but flagged with ``"unregistered_event": true`` (and the test
suite fails on it).  The sideband's and the tool calls' events are kept in ``_sideband_events``
and joined here.
"""

from __future__ import annotations

from ._event import Event
from ._events_service import SERVICE_EVENTS
from ._sideband_events import SIDEBAND_EVENTS

_EVENTS = (
    # -- webhook ---------------------------------------------------------------------------
    Event(
        code="webhook_verification_failed",
        severity="ERROR",
        category="Webhook",
        in_guide=True,
        cause="The webhook's Standard Webhooks signature did not verify against any configured "
        "secret (reason: missing_header, bad_timestamp, stale_timestamp, future_timestamp, "
        "malformed_signature, bad_signature)",
        response="HTTP 401 `{\"ok\": false, \"error\": \"webhook_verification_failed\", \"reason\": REASON}`",
        fixes=(
            ("bad_signature", "OPENAI_WEBHOOK_SECRET must equal the endpoint's secret in the OpenAI "
             "console; during rotation list both secrets, space-separated"),
            ("stale_timestamp / future_timestamp", "the server clock is off by more than "
             "CALLVISOR_WEBHOOK_TOLERANCE_S: check NTP"),
            ("missing_header", "a proxy in front of callvisor strips the webhook-* headers"),
            ("bad_signature on every call after a proxy change", "the proxy re-encodes the body; "
             "the signature covers the exact bytes OpenAI sent"),
        ),
    ),
    Event(
        code="duplicate_webhook_id",
        severity="WARNING",
        category="Webhook",
        in_guide=True,
        cause="A webhook-id (or a call_id) that already has a definitive outcome was delivered again",
        response="HTTP 200 `{\"ok\": true, \"duplicate\": true}`; no second call is started",
        fixes=(
            ("Frequent duplicates", "OpenAI redelivers when a response is slow or not 2xx; look "
             "for call_accept_failed or slow intake before the first delivery"),
        ),
    ),
    Event(
        code="webhook_invalid",
        severity="WARNING",
        category="Webhook",
        cause="A correctly signed webhook whose body is not usable (reason: malformed_json, "
        "which includes a body nested deeper than 32 levels; missing_call_id), or a body over "
        "256 KiB (reason: body_too_large)",
        response="HTTP 400 (413 for body_too_large) `{\"ok\": false, \"error\": REASON}`",
        fixes=(("Repeated malformed bodies", "report the webhook-id to OpenAI; nothing is lost "
                "on our side"),),
    ),
    Event(
        code="webhook_ignored",
        severity="INFO",
        category="Webhook",
        cause="A verified webhook of a type callvisor does not handle",
        response="HTTP 200 `{\"ok\": true, \"ignored\": TYPE}`",
        fixes=(("Unwanted deliveries", "subscribe the endpoint to realtime.call.incoming and, "
                "for GPT-Live tenants, live.transport.incoming only"),),
    ),
    Event(
        code="webhook_runtime_ignored",
        severity="INFO",
        category="Webhook",
        cause="An incoming-call webhook of the runtime the tenant does not use (`runtime`: the "
        "webhook's, realtime or live; reason: tenant_runtime_realtime, tenant_runtime_live). "
        "OpenAI may post one SIP call on both surfaces; only the tenant's runtime's webhook is "
        "decided. A number no tenant owns counts as realtime. `sip_call_id` is the SIP Call-ID "
        "both webhooks of the call carry",
        response="HTTP 200 `{\"ok\": true, \"ignored\": TYPE, \"reason\": REASON}`; nothing is "
        "sent to OpenAI and no slot is taken",
        fixes=(
            ("A call that rings out with only this line", "the project posts only the other "
             "surface's webhook: subscribe it to the tenant's runtime's event "
             "(live.transport.incoming for runtime live), or change the tenant's runtime"),
        ),
    ),
    # -- tenant ----------------------------------------------------------------------------
    Event(
        code="tenant_resolution_failed",
        severity="ERROR",
        category="Tenant configuration",
        in_guide=True,
        cause="The dialed number (SIP To header) is missing, unreadable, or routed to no tenant "
        "(reason: to_header_missing, to_header_invalid, number_not_routed)",
        response="Call rejected (SIP 404); HTTP 200 `{\"ok\": true, \"rejected\": \"tenant_resolution_failed\"}`",
        fixes=(
            ("number_not_routed", "add the number to the tenant's phone_numbers"),
            ("to_header_invalid", "the SIP trunk rewrites the To header; check the trunk's "
             "number format (E.164 expected, or national numbers in CALLVISOR_DEFAULT_REGION)"),
        ),
    ),
    Event(
        code="tenant_not_configured",
        severity="ERROR",
        category="Tenant configuration",
        in_guide=True,
        cause="The tenant has no state or config document, or its state document is malformed "
        "(reason: tenant_doc_missing, state_doc_missing, state_doc_invalid, config_doc_missing)",
        response="Call rejected (SIP 480); HTTP 200 `{\"ok\": true, \"rejected\": \"tenant_not_configured\"}`",
        fixes=(
            ("Tenant not provisioned", "create its state and config documents"),
            ("Wrong tenant in routing", "check the number → tenant mapping"),
            ("Configuration deleted", "restore it from backup"),
            ("state_doc_invalid", "the state document needs string greeting_id and instruction_id"),
        ),
    ),
    Event(
        code="instructions_missing",
        severity="ERROR",
        category="Instructions",
        in_guide=True,
        cause="The state points at a greeting or instruction that does not exist or is empty "
        "(reason: greeting_not_found, instruction_not_found, greeting_text_empty, "
        "instruction_text_empty; context has greeting_id and instruction_id)",
        response="Call rejected (SIP 480); HTTP 200 `{\"ok\": true, \"rejected\": \"instructions_missing\"}`",
        fixes=(
            ("*_text_empty", "give the prompt some text"),
            ("*_not_found", "point the state at an existing prompt id, or restore the prompt"),
        ),
    ),
    Event(
        code="instructions_db_error",
        severity="ERROR",
        category="Database",
        in_guide=True,
        cause="The tenant store failed while deciding a call: routing the number, fetching the "
        "config, the state or a prompt (reason: db_timeout, db_unavailable, auth_failed, "
        "db_error; context has operation, cause_type, and fail_fast when the store was not "
        "tried because it failed a moment before)",
        response="Call accepted with the downtime greeting and prompt, default model and voice, "
        "no tools; fallback_instructions_used increments. A number the store could not route "
        "and this replica never saw is handled the same way, as tenant `unknown`",
        fixes=(
            ("db_timeout / db_unavailable", "check MONGODB_URI and the network path to MongoDB"),
            ("Database overloaded", "scale MongoDB or add read replicas"),
            ("Slow queries", "check the indexes in docs/mongodb.md or raise MONGODB_TIMEOUT_MS"),
            ("auth_failed", "check the credentials in MONGODB_URI"),
        ),
    ),
    Event(
        code="tenant_config_parse_error",
        severity="ERROR",
        category="Tenant configuration",
        in_guide=True,
        cause="The tenant's config document fails validation (reason: config_invalid; context "
        "errors lists each problem with its path, e.g. `invalid value for type, expected int @ "
        "config.limits.max_concurrent_calls`)",
        response="Call rejected (SIP 480); HTTP 200 `{\"ok\": true, \"rejected\": \"tenant_config_parse_error\"}`",
        fixes=(
            ("Wrong types or unknown keys", "run `callvisor tenants check FILE`; every problem is "
             "listed with its path"),
            ("Missing required fields", "compare with config/examples/tenants.yaml"),
            ("schema_version mismatch", "migrate the config to the current schema_version"),
        ),
    ),
    Event(
        code="tool_build_error",
        severity="ERROR",
        category="Tools",
        in_guide=True,
        cause="A configured tool is invalid (reason: tool_config_invalid, duplicate_tool_name; "
        "context has the tool index and problems)",
        response="The call is accepted without tools",
        fixes=(("Invalid tool configuration", "run `callvisor tenants check FILE`"),),
    ),
    # -- call control ----------------------------------------------------------------------
    Event(
        code="call_accepted",
        severity="INFO",
        category="Call lifecycle",
        cause="OpenAI accepted our accept request (fields: runtime, sip_call_id, the SIP Call-ID "
        "a webhook_runtime_ignored line of the same call carries, model, voice, tools, "
        "decision_ms, accept_ms)",
        response="HTTP 200 `{\"ok\": true, \"accepted\": CALL_ID}`",
    ),
    Event(
        code="call_rejected",
        severity="INFO",
        category="Capacity",
        cause="The call was rejected through OpenAI (reason: the error code that caused it, "
        "tenant_capacity, global_capacity, draining, store_unavailable in cluster mode; "
        "rejected: the webhook answer's reason; sip_status; sip_call_id)",
        response="HTTP 200 `{\"ok\": true, \"rejected\": REASON}`",
        fixes=(
            ("tenant_capacity / global_capacity on real traffic", "raise the tenant's "
             "limits.max_concurrent_calls or MAX_CONCURRENT_CALLS"),
            ("Capacity full while few calls are live", "look at GET /actors for calls that do "
             "not end"),
        ),
    ),
    Event(
        code="call_gone",
        severity="WARNING",
        category="Call lifecycle",
        cause="OpenAI answered 404 to accept or reject: the caller hung up before we decided, "
        "or a late redelivery",
        response="HTTP 200 `{\"ok\": true, \"gone\": CALL_ID}`",
    ),
    Event(
        code="call_accept_failed",
        severity="ERROR",
        category="OpenAI API",
        in_guide=True,
        cause="The accept request failed (reason: openai_5xx, openai_4xx, timeout, "
        "connection_error, tls_error; status; tls_reason for tls_error)",
        response="HTTP 503 so that OpenAI redelivers; the redelivery is processed",
        fixes=(
            ("timeout / connection_error", "check egress to OPENAI_BASE_URL"),
            ("tls_error", "OpenAI's certificate did not verify (error.context.tls_reason): a "
             "TLS-inspecting proxy needs its CA in the bundle SSL_CERT_FILE names; check the "
             "clock and the host of OPENAI_BASE_URL"),
            ("openai_4xx 401/403", "OPENAI_API_KEY must belong to the project that owns the SIP trunk"),
        ),
    ),
    Event(
        code="call_reject_failed",
        severity="ERROR",
        category="OpenAI API",
        cause="The reject request failed (reason as for call_accept_failed)",
        response="HTTP 503 so that OpenAI redelivers",
    ),
    # -- call actor ------------------------------------------------------------------------
    Event(
        code="call_session_start_failed",
        severity="ERROR",
        category="Call lifecycle",
        in_guide=True,
        cause="The call was accepted but its sideband websocket did not come up (reason: sideband_404 "
        "after the retries, handshake_rejected with the HTTP status, handshake_failed, tls_error, "
        "timeout: no handshake answer or, Realtime, no session.created within "
        "CALL_SESSION_START_TIMEOUT_S; admission_error: a GPT-Live attach whose first event was "
        "an error, detail has its code and message)",
        response="The call is hung up through the REST API (the Live path for a Live call) and its "
        "capacity slot is released",
        fixes=(
            ("admission_error", "GPT-Live refused the attach: detail's code says why (the "
             "project lacks GPT-Live SIP, or OPENAI_API_KEY is another project's than the "
             "webhook's)"),
            ("sideband_404", "the call ended before the sideband connected: the caller hung "
             "up early, or accepting took too long (look at intake time)"),
            ("handshake_failed", "check websocket egress to OPENAI_REALTIME_URL (OPENAI_LIVE_URL "
             "for a Live tenant); a proxy must allow the upgrade"),
            ("handshake_rejected", "HTTP 401/403: OPENAI_API_KEY; another status: "
             "OPENAI_REALTIME_URL (OPENAI_LIVE_URL) is not the Realtime (GPT-Live) endpoint"),
            ("tls_error", "the sideband's certificate did not verify (detail): as for "
             "call_accept_failed tls_error, for the host of OPENAI_REALTIME_URL or OPENAI_LIVE_URL"),
            ("timeout on every call", "raise CALL_SESSION_START_TIMEOUT_S or check latency to "
             "OpenAI from this host"),
        ),
    ),
    Event(
        code="call_ended",
        severity="INFO",
        category="Call lifecycle",
        cause="A call actor finished (fields: reason, duration_s, close_code, tool_calls, "
        "tool_calls_refused; a GPT-Live call adds runtime live, closed_reason, the reason of "
        "its session.closed or null, reattached, whether its sideband was attached again, and "
        "audio_frames, the reflected audio frames it received: over duration_s, the frame rate "
        "that sizes a process for GPT-Live)",
        response="The call's capacity slot is free again",
    ),
    Event(
        code="call_actor_crashed",
        severity="ERROR",
        category="Call lifecycle",
        cause="A call actor raised an exception nobody expected (error has its type and message)",
        response="Only that call ends (hung up, slot released); other calls go on",
        fixes=(
            ("Any occurrence", "a bug: report the error and the call's log lines "
             "(grep its call_id)"),
        ),
    ),
    Event(
        code="call_session_started",
        severity="INFO",
        category="Call lifecycle",
        cause="The call's sideband websocket is up; the greeting is sent next",
        response="None: the call is live",
    ),
    Event(
        code="call_hangup_failed",
        severity="ERROR",
        category="OpenAI API",
        cause="The hangup request at the end of a call failed (reason as for call_accept_failed)",
        response="The slot is released anyway; OpenAI ends the call when its session times out",
        fixes=(("Any occurrence", "check egress to OPENAI_BASE_URL; the call may linger on "
                "OpenAI's side until it times out"),),
    ),
    Event(
        code="call_transfer_requested",
        severity="INFO",
        category="Tools",
        cause="The model called transfer_call and OpenAI accepted the refer (field: target_uri)",
        response="The call waits for the session to close (bounded), then ends with reason transferred",
    ),
    Event(
        code="call_transfer_failed",
        severity="ERROR",
        category="Tools",
        cause="The refer request failed (reason as for call_accept_failed)",
        response="The model is told the transfer failed; the call continues",
        fixes=(("Every transfer fails", "the SIP trunk must allow REFER (call transfer) and "
                "the target must be a tel: or sip: URI it can reach"),),
    ),
    *SERVICE_EVENTS,
)

EVENTS: dict[str, Event] = {event.code: event for event in (*_EVENTS, *SIDEBAND_EVENTS)}
