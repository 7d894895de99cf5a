"""The events of a call's sideband and its tool calls, part of the registry (see ``_events``).

What the far side sends is untrusted input; these events say what callvisor made of it.
"""

from __future__ import annotations

from ._event import Event

SIDEBAND_EVENTS = (
    Event(
        code="tool_execution_failed",
        severity="ERROR",
        category="Tools",
        cause="A tool call from the model failed (error_type ToolNotFoundError / "
        "ToolArgsParseError / ToolExecutionError; reason tool_not_found, tool_args_invalid, "
        "tool_args_too_large, tool_timeout, tool_http_error, tool_unreachable, tool_tls_error, "
        "tool_response_too_large)",
        response="The model receives an error output and the call continues",
        fixes=(
            ("tool_not_found", "the tool name the model used must match a configured tool "
             "exactly (a function call without a string name has none)"),
            ("tool_args_invalid", "the model produced arguments that are not a string holding "
             "a JSON object, or that nest deeper than 32 levels"),
            ("tool_args_too_large", "the arguments were longer than 65,536 characters "
             "(context.arguments_chars); refused before any tool ran"),
            ("tool_http_error / tool_timeout", "check the tenant's tool endpoint"),
            ("tool_unreachable", "context.cause_type ConnectError: DNS or egress to the tool's "
             "host"),
            ("tool_tls_error", "the tool's certificate does not verify (context.tls_reason): its "
             "CA must be in SSL_CERT_FILE (or the system store), and the URL's host in the "
             "certificate"),
        ),
    ),
    Event(
        code="tool_call_refused",
        severity="WARNING",
        category="Tools",
        cause="A function call from the model was refused before it ran, logged once per "
        "reason and call (reason: too_many_tool_calls when 8 tool runs are running and 32 "
        "waiting in the call; call_id_invalid when its call_id is missing, not a string, "
        "empty, longer than 128 characters or not printable ASCII; duplicate_call_id when "
        "that call_id was taken already; GET /actors counts every one as session "
        "tool_calls_refused, tool_calls_unanswerable, duplicate_tool_calls)",
        response="too_many_tool_calls: the model receives that error output at once and the "
        "call continues; call_id_invalid, duplicate_call_id: the function call is dropped",
        fixes=(
            ("too_many_tool_calls", "the model called tools faster than they answer: look for "
             "a slow tool endpoint (tool_timeout) or a prompt that loops on a tool"),
            ("call_id_invalid / duplicate_call_id", "the sideband sent a malformed function "
             "call: report the call_id to OpenAI"),
        ),
    ),
    Event(
        code="sideband_closed_abnormally",
        severity="WARNING",
        category="Call lifecycle",
        cause="The sideband closed with a code that is not a hangup (end_reason: "
        "sideband_message_too_large for 1009, a message over max_message_bytes; "
        "sideband_protocol_error for 1002, 1003, 1007 or a frame callvisor refused; "
        "sideband_error for any other code, such as 1011 or 4000-4999; sideband_stalled when "
        "a client event waited 10 s to be sent, the far side reading nothing, close_code null; "
        "fields close_code, close_reason)",
        response="The call ends with that reason and is hung up through the REST API",
        fixes=(
            ("sideband_message_too_large", "OpenAI sent a message over 8 MiB: report the "
             "call_id; the limit is actors.sideband.MAX_MESSAGE_BYTES"),
            ("sideband_protocol_error", "a proxy between callvisor and OpenAI mangles websocket "
             "frames, or the far side is not OpenAI's Realtime endpoint"),
            ("sideband_error", "OpenAI ended the session with an error: close_code and "
             "close_reason say which; compare with OpenAI's status page"),
            ("sideband_stalled", "OpenAI (or a proxy on the way) stopped reading the sideband: "
             "look for a proxy buffering websockets, then OpenAI's status page"),
        ),
    ),
    Event(
        code="realtime_error",
        severity="WARNING",
        category="Call lifecycle",
        cause="The realtime session sent an `error` event; at most 20 are logged per call, "
        "the last with last_logged true, and GET /actors counts every one (fields: code, "
        "error_type, error_message, param, client_event_id, each null when missing and its "
        "type's name when not a string or number; the count is session error_events)",
        response="None: most are recoverable and the call goes on",
        fixes=(("Repeated on every call", "the accept body or a client event is invalid: "
                "compare the code with OpenAI's realtime error reference"),),
    ),
    Event(
        code="live_error",
        severity="WARNING",
        category="Call lifecycle",
        cause="A GPT-Live session sent an `error` event, logged and counted as realtime_error "
        "is (the same fields, at most 20 per call)",
        response="None: the call goes on (whether an error ends a Live session is not "
        "documented; session.closed would)",
        fixes=(("Repeated on every call", "a client event callvisor sends is refused: compare "
                "the code and param with OpenAI's GPT-Live reference and report it"),),
    ),
    Event(
        code="live_sideband_lost",
        severity="WARNING",
        category="Call lifecycle",
        cause="A GPT-Live sideband closed without session.closed (close_code), so the session "
        "may be alive: callvisor attaches once more; logged again with reattach (the "
        "call_session_start_failed reason: sideband_404, timeout...) when that fails",
        response="Attached again: the call goes on (call_ended reattached true). Not attached: "
        "the call is hung up through REST and ends as sideband_lost",
        fixes=(("Often", "the network between callvisor and OpenAI drops websockets: look at "
                "proxies and NAT idle timeouts on the path to OPENAI_LIVE_URL"),),
    ),
)
