"""What the webhook endpoint must answer, written from README's "## The webhook endpoint".

:func:`readme_row` names the row of README's table an answer is, or fails: the status and the
exact JSON shape of that row, nothing more and nothing less.  :func:`predict` says which row a
validly signed body must get, from the body alone, by README's rules (body size, nesting depth,
a JSON object, ``type``, ``data.call_id``) and, for a call, the tenant its first ``To`` header
routes to in ``config/examples/tenants.yaml``.  It parses with ``json.loads`` as any client
would; it never calls the code under test.
"""

from __future__ import annotations

import json
import re
from typing import Any

from attrs import frozen

#: README's table, by row: status and the keys of its JSON body.
ROWS: dict[str, tuple[int, frozenset[str]]] = {
    "unauthorized": (401, frozenset({"ok", "error", "reason"})),
    "too_large": (413, frozenset({"ok", "error"})),
    "timeout": (408, frozenset({"ok", "error"})),
    "malformed_json": (400, frozenset({"ok", "error"})),
    "missing_call_id": (400, frozenset({"ok", "error"})),
    "ignored": (200, frozenset({"ok", "ignored"})),
    "duplicate": (200, frozenset({"ok", "duplicate"})),
    "accepted": (200, frozenset({"ok", "accepted"})),
    "rejected": (200, frozenset({"ok", "rejected"})),
    "gone": (200, frozenset({"ok", "gone"})),
    "retry": (503, frozenset({"ok", "error", "retry"})),
}
#: The ``reason`` of a 401 (supervisor/webhooks.py's table).
VERIFICATION_REASONS = frozenset(
    {"missing_header", "bad_timestamp", "stale_timestamp", "future_timestamp", "malformed_signature", "bad_signature"}
)
#: README's "SIP status of a rejected call".
SIP_STATUS = {
    "tenant_resolution_failed": 404,
    "tenant_not_configured": 480,
    "instructions_missing": 480,
    "tenant_config_parse_error": 480,
    "capacity": 486,
    "draining": 503,
    "capacity_unavailable": 503,
}
RETRY_ERRORS = frozenset({"call_accept_failed", "call_reject_failed", "internal_error"})

MAX_BODY_BYTES = 256 * 1024
MAX_DEPTH = 32
INCOMING = "realtime.call.incoming"
CALL_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")

#: The example tenants' numbers and what a call to each gets (tests/e2e/test_intake_tenants.py).
NUMBERS = {
    "acme": "+18005551212",
    "globex": "+18005550100",
    "piedpiper": "+18005550104",
    "initech": "+18005550101",
    "umbrella": "+18005550102",
    "hooli": "+18005550103",
    "unrouted": "+18005550199",
}
OUTCOME = {
    "acme": ("accepted", None),
    "globex": ("accepted", None),
    "piedpiper": ("accepted", None),
    "initech": ("rejected", "tenant_not_configured"),
    "umbrella": ("rejected", "instructions_missing"),
    "hooli": ("rejected", "tenant_config_parse_error"),
    "unrouted": ("rejected", "tenant_resolution_failed"),
}
#: Ways of writing a SIP ``To`` that all read as ``{n}`` (the E.164 number) or, national, ``{national}``.
SPELLINGS = (
    "sip:{n}@sip.example.com",
    "<sip:{n}@sip.example.com>;tag=8c1f",
    '"Front Desk" <sip:{n}@pbx.example.com;user=phone>',
    "tel:{n}",
    "<tel:{n};phone-context=example.com>",
    "sips:{n}@sip.example.com:5061",
    "SIP:{n}@sip.example.com",
    "  sip:{n}@sip.example.com  ",
    "sip:{national}@sip.example.com",
    "sip:{n}:secret@sip.example.com",
    "sip:%2B{digits}@sip.example.com",
)
#: Every routable ``To`` value and its tenant: any other value routes nowhere.
ROUTABLE = {
    spelling.format(n=number, national=number[2:], digits=number[1:]): tenant
    for tenant, number in NUMBERS.items()
    for spelling in SPELLINGS
}
TO_NAMES = frozenset({"to", "t"})


def readme_row(status: int, body: Any) -> str:
    """The README row ``(status, body)`` is, or AssertionError: its status and exact JSON shape."""
    assert isinstance(body, dict), body
    rows = [name for name, (row_status, keys) in ROWS.items() if row_status == status and set(body) == keys]
    assert rows, f"no README row answers {status} {body}"
    ok = body["ok"]
    if status == 200:
        assert ok is True, body
        (row,) = rows
        value = body[next(iter(ROWS[row][1] - {"ok"}))]
        if row == "duplicate":
            assert value is True, body
        elif row == "rejected":
            assert value in SIP_STATUS, body
        elif row == "ignored":
            assert isinstance(value, str), body  # the type as sent (cut), empty or not
        else:
            assert isinstance(value, str), body
            assert value, body
        return row
    assert ok is False, body
    error = body["error"]
    if status == 401:
        assert error == "webhook_verification_failed", body
        assert body["reason"] in VERIFICATION_REASONS, body
        return "unauthorized"
    if status == 400:
        assert error in ("malformed_json", "missing_call_id"), body
        return str(error)
    if status == 503:
        assert error in RETRY_ERRORS, body
        assert body["retry"] is True, body
        return "retry"
    expected = {"too_large": "body_too_large", "timeout": "request_timeout"}
    (row,) = rows
    assert error == expected[row], body
    return row


@frozen
class Prediction:
    """What a validly signed body must get: a row, and for a call its id and tenant."""

    row: str  # too_large | malformed_json | missing_call_id | ignored | call
    ignored: str | None = None  # the ``ignored`` value (the type, cut to 100 characters)
    call_id: str | None = None
    tenant: str = "unrouted"


def depth_of(text: str) -> int:
    """Nesting of objects and arrays, strings skipped (a plain walk: the README's rule)."""
    depth = deepest = 0
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if char == '"':
            index += 1
            while index < length and text[index] != '"':
                index += 2 if text[index] == "\\" else 1
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(depth - 1, 0)
        index += 1
    return deepest


def predict(body: bytes) -> Prediction:
    """The README row a validly signed ``body`` must get."""
    if len(body) > MAX_BODY_BYTES:
        return Prediction("too_large")
    try:
        text = body.decode(json.detect_encoding(body), "surrogatepass")
    except UnicodeDecodeError:
        return Prediction("malformed_json")
    if depth_of(text) > MAX_DEPTH:
        return Prediction("malformed_json")
    try:
        event = json.loads(text)
    except ValueError:
        return Prediction("malformed_json")
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return Prediction("malformed_json")
    if event["type"] != INCOMING:
        return Prediction("ignored", ignored=event["type"][:100])
    data = event.get("data")
    call_id = data.get("call_id") if isinstance(data, dict) else None
    if not isinstance(call_id, str) or not CALL_ID.fullmatch(call_id):
        return Prediction("missing_call_id")
    assert isinstance(data, dict)
    return Prediction("call", call_id=call_id, tenant=route(data.get("sip_headers")))


def route(sip_headers: object) -> str:
    """The tenant the first ``To`` header (any case, or ``t``) names, or ``unrouted``."""
    if not isinstance(sip_headers, list):
        return "unrouted"
    for header in sip_headers:
        if not isinstance(header, dict):
            continue
        name = header.get("name")
        if isinstance(name, str) and len(name) <= 16 and name.strip().lower() in TO_NAMES:
            value = header.get("value")
            return ROUTABLE.get(value, "unrouted") if isinstance(value, str) else "unrouted"
    return "unrouted"
