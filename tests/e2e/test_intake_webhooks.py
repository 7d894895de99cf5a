"""The public endpoint's answers to deliveries that are not a plain healthy call, over loopback.

Signatures (bad, stale, future, missing, rotated secrets), deduplication by webhook-id and by
call_id, bodies that are not usable (never a 500), and the app's other routes.

Starting a rig costs about half a second, so cases of one kind share one rig and are compared
as a list of (case, answer): a failure still names the case.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor.intake import MAX_BODY_BYTES
from supervisor.testing import WebhookSigner, incoming_call_event, new_secret
from tests.rig import ACME, GLOBEX, UNROUTED, WAIT_S, Rig

OLD = WebhookSigner(new_secret())
NEW = WebhookSigner(new_secret())
ROTATING = {"OPENAI_WEBHOOK_SECRET": f"{OLD.secret} {NEW.secret}"}

REFUSED = {"ok": False, "error": "webhook_verification_failed"}


def headers_for(
    signer: WebhookSigner, body: bytes, *, webhook_id: str = "wh_test", timestamp: int | None = None
) -> dict[str, Any]:
    """Signed webhook headers for ``body``; ``timestamp`` defaults to now (wall clock)."""
    ts = int(time.time()) if timestamp is None else timestamp
    headers: dict[str, Any] = signer.sign(body, webhook_id=webhook_id, timestamp=ts)
    headers["content-type"] = "application/json"
    return headers


async def deliver(rig: Rig, event: dict[str, Any], *, webhook_id: str) -> httpx.Response:
    """Deliver ``event`` signed with the rig's secret (each attempt signed anew, as OpenAI does)."""
    rig.platform.expect_call(event["data"]["call_id"])
    body = json.dumps(event).encode()
    return await rig.post_raw(body, headers_for(rig.signer, body, webhook_id=webhook_id))


def assert_not_forwarded(rig: Rig) -> None:
    """Nothing reached OpenAI and no call was decided."""
    assert rig.platform.requests == []
    assert rig.logs.events("call_accepted") == []
    assert rig.logs.events("call_rejected") == []


def logged(rig: Rig, event: str, *fields: str) -> list[tuple[Any, ...]]:
    """``(level, *fields)`` of every ``event`` line so far."""
    return [(line["level"], *(line[f] for f in fields)) for line in rig.logs.events(event)]


# -- signatures -------------------------------------------------------------------------------


async def test_bad_signature_is_401_and_nothing_reaches_openai(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """A delivery signed with another secret: 401 bad_signature, an ERROR line, no call control."""
    event = incoming_call_event("rtc_forged", to=ACME)
    body = json.dumps(event).encode()

    response = await rig.post_raw(body, headers_for(WebhookSigner(new_secret()), body))

    assert response.status_code == 401
    assert response.json() == {**REFUSED, "reason": "bad_signature"}
    line = await rig.wait_log("webhook_verification_failed")
    assert line["level"] == "ERROR"
    assert line["reason"] == "bad_signature"
    assert line["tenant_id"] is None
    assert line["call_id"] is None
    assert event["id"] not in json.dumps(rig.logs.lines)  # the raw body is never logged
    assert_not_forwarded(rig)


async def test_timestamp_outside_tolerance_is_401(rig: Rig, mock_clock: trio.testing.MockClock) -> None:
    """A correctly signed delivery whose timestamp is over 300 s off is refused with its reason."""
    cases = [
        (-301, "stale_timestamp"),
        (-86_400, "stale_timestamp"),
        (+301, "future_timestamp"),
        (+86_400, "future_timestamp"),
    ]
    body = json.dumps(incoming_call_event("rtc_skewed", to=ACME)).encode()
    seen = []
    for shift_s, _reason in cases:
        headers = headers_for(rig.signer, body, timestamp=int(time.time()) + shift_s)
        response = await rig.post_raw(body, headers)
        seen.append((shift_s, response.status_code, response.json()))

    assert seen == [(shift_s, 401, {**REFUSED, "reason": reason}) for shift_s, reason in cases]
    assert logged(rig, "webhook_verification_failed", "reason") == [
        ("ERROR", reason) for _shift, reason in cases
    ]
    assert_not_forwarded(rig)


async def test_missing_webhook_header_is_401(rig: Rig, mock_clock: trio.testing.MockClock) -> None:
    """A delivery without (or with an empty) webhook-* header is refused: 401 missing_header."""
    body = json.dumps(incoming_call_event("rtc_stripped", to=ACME)).encode()
    cases = [
        ("webhook-id", None),
        ("webhook-timestamp", None),
        ("webhook-signature", None),
        ("webhook-signature", ""),
    ]
    seen = []
    for name, value in cases:
        headers = headers_for(rig.signer, body)
        if value is None:
            del headers[name]
        else:
            headers[name] = value
        response = await rig.post_raw(body, headers)
        seen.append((name, value, response.status_code, response.json()))

    assert seen == [(name, value, 401, {**REFUSED, "reason": "missing_header"}) for name, value in cases]
    assert logged(rig, "webhook_verification_failed", "reason") == [("ERROR", "missing_header")] * 4
    assert_not_forwarded(rig)


async def test_non_ascii_signature_header_is_401(rig: Rig, mock_clock: trio.testing.MockClock) -> None:
    """A webhook-signature with non-ASCII bytes is refused as malformed_signature, not a 500."""
    body = json.dumps(incoming_call_event("rtc_latin", to=ACME)).encode()
    headers = headers_for(rig.signer, body)
    headers["webhook-signature"] = headers["webhook-signature"].encode() + b" v1,\xe9\xff=="

    response = await rig.post_raw(body, headers)

    assert response.status_code == 401
    assert response.json() == {**REFUSED, "reason": "malformed_signature"}
    assert logged(rig, "webhook_verification_failed", "reason") == [("ERROR", "malformed_signature")]
    assert_not_forwarded(rig)


@pytest.mark.parametrize("rig_env", [ROTATING], ids=["two-secrets"])
async def test_rotated_secrets_both_verify(rig: Rig, mock_clock: trio.testing.MockClock) -> None:
    """With OPENAI_WEBHOOK_SECRET="old new", either secret verifies and a third one does not."""
    for call_id, signer in (("rtc_old", OLD), ("rtc_new", NEW)):
        rig.platform.expect_call(call_id)
        body = json.dumps(incoming_call_event(call_id, to=ACME)).encode()

        response = await rig.post_raw(body, headers_for(signer, body, webhook_id=f"wh_{call_id}"))

        assert response.status_code == 200
        assert response.json() == {"ok": True, "accepted": call_id}
        await rig.wait_session(call_id)
    assert [r.call_id for r in rig.platform.requests if r.action == "accept"] == ["rtc_old", "rtc_new"]
    assert rig.logs.events("webhook_verification_failed") == []

    # The rig's own secret is configured neither as old nor as new: still refused.
    body = json.dumps(incoming_call_event("rtc_third", to=ACME)).encode()
    response = await rig.post_raw(body, headers_for(rig.signer, body))
    assert response.status_code == 401
    assert response.json() == {**REFUSED, "reason": "bad_signature"}
    assert rig.actions("rtc_third") == []


@pytest.mark.parametrize("rig_env", [ROTATING], ids=["two-secrets"])
async def test_rotation_header_with_one_entry_per_secret_verifies(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """A webhook-signature with several v1 entries verifies when any one matches a secret."""
    rig.platform.expect_call("rtc_both")
    body = json.dumps(incoming_call_event("rtc_both", to=GLOBEX)).encode()
    ts = int(time.time())
    headers = headers_for(OLD, body, webhook_id="wh_both", timestamp=ts)
    stranger = WebhookSigner(new_secret()).signature(body, webhook_id="wh_both", timestamp=ts)
    headers["webhook-signature"] = f"{stranger} {NEW.signature(body, webhook_id='wh_both', timestamp=ts)}"

    response = await rig.post_raw(body, headers)

    assert response.status_code == 200
    assert response.json() == {"ok": True, "accepted": "rtc_both"}
    await rig.wait_session("rtc_both")


# -- deduplication ----------------------------------------------------------------------------


async def test_redelivery_with_same_webhook_id_is_a_duplicate(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """The same webhook-id delivered twice: 200 duplicate, one accept, duplicate_webhook_id WARNING."""
    event = incoming_call_event("rtc_twice", to=ACME)

    first = await deliver(rig, event, webhook_id="wh_twice")
    second = await deliver(rig, event, webhook_id="wh_twice")

    assert first.json() == {"ok": True, "accepted": "rtc_twice"}
    assert second.status_code == 200
    assert second.json() == {"ok": True, "duplicate": True}
    assert rig.actions("rtc_twice") == ["accept"]
    line = await rig.wait_log("duplicate_webhook_id", call_id="rtc_twice")
    assert line["level"] == "WARNING"
    assert line["webhook_id"] == "wh_twice"
    assert line["duplicate_of"] == "webhook_id"
    assert len(rig.logs.events("call_accepted")) == 1
    await rig.wait_session("rtc_twice")


async def test_new_webhook_id_for_a_decided_call_is_a_duplicate(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """A second delivery of an accepted call under a new webhook-id is not accepted again."""
    event = incoming_call_event("rtc_again", to=ACME)

    first = await deliver(rig, event, webhook_id="wh_again_1")
    second = await deliver(rig, event, webhook_id="wh_again_2")
    third = await deliver(rig, event, webhook_id="wh_again_2")

    assert first.json() == {"ok": True, "accepted": "rtc_again"}
    assert second.status_code == third.status_code == 200
    assert second.json() == third.json() == {"ok": True, "duplicate": True}
    assert rig.actions("rtc_again") == ["accept"]
    assert logged(rig, "duplicate_webhook_id", "webhook_id", "duplicate_of") == [
        ("WARNING", "wh_again_2", "call_id"),
        ("WARNING", "wh_again_2", "webhook_id"),
    ]
    await rig.wait_session("rtc_again")


async def test_rejected_call_redelivered_is_not_rejected_twice(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """A rejected call delivered again (same or new webhook-id) is answered duplicate, one reject."""
    event = incoming_call_event("rtc_nobody", to=UNROUTED)

    answers = [
        (await deliver(rig, event, webhook_id=webhook_id)).json()
        for webhook_id in ("wh_nobody_1", "wh_nobody_1", "wh_nobody_2")
    ]

    assert answers == [
        {"ok": True, "rejected": "tenant_resolution_failed"},
        {"ok": True, "duplicate": True},
        {"ok": True, "duplicate": True},
    ]
    assert rig.actions("rtc_nobody") == ["reject"]


# -- bodies that are not a usable call ---------------------------------------------------------


async def test_malformed_json_after_valid_signature_is_400(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """A correctly signed body that is not JSON: 400 malformed_json and a webhook_invalid WARNING."""
    body = b'{"type": "realtime.call.incoming", "data": {"call_id": '

    response = await rig.post_raw(body, headers_for(rig.signer, body, webhook_id="wh_broken"))

    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": "malformed_json"}
    assert logged(rig, "webhook_invalid", "reason", "webhook_id") == [
        ("WARNING", "malformed_json", "wh_broken")
    ]
    assert_not_forwarded(rig)


async def test_json_array_body_is_400(rig: Rig, mock_clock: trio.testing.MockClock) -> None:
    """A correctly signed JSON array (not an event object) is 400 malformed_json."""
    body = json.dumps([incoming_call_event("rtc_in_a_list", to=ACME)]).encode()

    response = await rig.post_raw(body, headers_for(rig.signer, body))

    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": "malformed_json"}
    assert logged(rig, "webhook_invalid", "reason") == [("WARNING", "malformed_json")]
    assert_not_forwarded(rig)


async def test_missing_or_invalid_call_id_is_400(rig: Rig, mock_clock: trio.testing.MockClock) -> None:
    """A signed incoming-call event without a usable call_id is 400 missing_call_id."""
    cases: list[object] = [
        {"sip_headers": []},
        {"call_id": None},
        {"call_id": ""},
        {"call_id": 12345},
        {"call_id": ["rtc_1"]},
        {"call_id": "rtc 1"},
        {"call_id": "../../rtc_1"},
        {"call_id": "rtc_\u00e9"},
        {"call_id": "r" * 129},
        {"call_id": "rtc_1\n"},
        None,
        ["rtc_1"],
        "rtc_1",
    ]
    seen = []
    for data in cases:
        event = {"object": "event", "id": "evt_1", "type": "realtime.call.incoming", "data": data}
        body = json.dumps(event).encode()
        response = await rig.post_raw(body, headers_for(rig.signer, body))
        seen.append((data, response.status_code, response.json()))

    assert seen == [(data, 400, {"ok": False, "error": "missing_call_id"}) for data in cases]
    assert logged(rig, "webhook_invalid", "reason") == [("WARNING", "missing_call_id")] * len(cases)
    assert_not_forwarded(rig)


async def test_unknown_event_type_is_ignored(rig: Rig, mock_clock: trio.testing.MockClock) -> None:
    """A signed realtime.call.ended is answered 200 ignored and logged webhook_ignored."""
    event = {
        "object": "event",
        "id": "evt_ended",
        "type": "realtime.call.ended",
        "created_at": int(time.time()),
        "data": {"call_id": "rtc_over"},
    }
    body = json.dumps(event).encode()

    response = await rig.post_raw(body, headers_for(rig.signer, body, webhook_id="wh_ended"))

    assert response.status_code == 200
    assert response.json() == {"ok": True, "ignored": "realtime.call.ended"}
    assert logged(rig, "webhook_ignored", "type", "webhook_id") == [
        ("INFO", "realtime.call.ended", "wh_ended")
    ]
    assert_not_forwarded(rig)


async def post_alone(rig: Rig, body: Any, headers: dict[str, Any]) -> httpx.Response:
    """POST on a connection of its own (see the keep-alive test below for why)."""
    async with httpx.AsyncClient(timeout=None) as client:
        with trio.fail_after(WAIT_S):
            return await client.post(f"{rig.url}/webhooks/openai", content=body, headers=headers)


def oversized_event(call_id: str) -> bytes:
    event = incoming_call_event(call_id, to=ACME, extra_headers=[("X-Pad", "p" * MAX_BODY_BYTES)])
    body = json.dumps(event).encode()
    assert len(body) > MAX_BODY_BYTES
    return body


async def test_body_over_256_kib_is_413(rig: Rig, mock_clock: trio.testing.MockClock) -> None:
    """A body over 256 KiB is 413 body_too_large: signed or not, with a Content-Length or chunked."""
    body = oversized_event("rtc_big")
    signed = headers_for(rig.signer, body)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 16_384):
            yield body[start : start + 16_384]

    answers = [
        await post_alone(rig, body, signed),
        await post_alone(rig, body, {"content-type": "application/json"}),
        await post_alone(rig, chunks(), signed),
    ]

    assert [(r.status_code, r.json()) for r in answers] == [
        (413, {"ok": False, "error": "body_too_large"})
    ] * 3
    assert logged(rig, "webhook_invalid", "reason") == [("WARNING", "body_too_large")] * 3
    assert_not_forwarded(rig)


async def exchange(stream: trio.SocketStream, body: bytes, headers: dict[str, Any]) -> tuple[Any, str]:
    """POST ``body`` to the webhook on ``stream`` (HTTP/1.1), reading while sending.

    Returns ``(status, connection header)``; status is ``"closed"`` or ``"no answer"`` when no
    answer came; the connection header reads ``"broken"`` when the server dropped the connection
    before the whole request was sent without having said ``close``.
    """
    lines = ["POST /webhooks/openai HTTP/1.1", "Host: callvisor", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    sent = trio.Event()
    dropped = False

    async def send() -> None:
        nonlocal dropped
        try:
            await stream.send_all(request)
        except trio.BrokenResourceError:
            dropped = True
        sent.set()

    received = b""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(send)
        with trio.move_on_after(WAIT_S):
            try:
                while not (b"\r\n\r\n" in received and received.endswith(b"}\n")):
                    chunk = await stream.receive_some()
                    if not chunk:
                        break
                    received += chunk
            except trio.BrokenResourceError:
                pass
            await sent.wait()
        nursery.cancel_scope.cancel()
    if b"\r\n\r\n" not in received:
        return ("closed" if sent.is_set() else "no answer"), ""
    head = received.partition(b"\r\n\r\n")[0].decode("latin-1").lower().split("\r\n")
    connection = next((h.partition(":")[2].strip() for h in head if h.startswith("connection:")), "")
    if dropped and connection != "close":
        connection = "broken"
    return int(head[0].split()[1]), connection


async def test_connection_after_a_413_is_closed_or_still_answers(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """A 413 either says Connection: close, or the keep-alive connection answers the next request."""
    big = b"x" * (8 * MAX_BODY_BYTES)
    small = json.dumps({"type": "realtime.call.ended", "data": {"call_id": "rtc_after"}}).encode()
    host, _, port = rig.url.removeprefix("http://").rpartition(":")
    async with await trio.open_tcp_stream(host, int(port)) as stream:
        status, connection = await exchange(stream, big, headers_for(rig.signer, big))
        assert status == 413
        if connection == "close":
            return
        assert connection != "broken", "413 without Connection: close, then the connection was dropped"
        assert await exchange(stream, small, headers_for(rig.signer, small)) == (200, "")


async def test_exactly_256_kib_is_read(rig: Rig, mock_clock: trio.testing.MockClock) -> None:
    """The limit is inclusive: a signed 256 KiB body is read (here: 400 malformed_json), not 413."""
    body = b" " * MAX_BODY_BYTES

    response = await rig.post_raw(body, headers_for(rig.signer, body))

    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": "malformed_json"}


#: (id, body, headers: "signed", "none" or "signed" with one header replaced, status, error/reason)
NASTY: list[tuple[str, bytes, str, int, str]] = [
    ("empty", b"", "signed", 400, "malformed_json"),
    ("text", b"hello", "signed", 400, "malformed_json"),
    ("truncated", b'{"type": "realtime.call.incoming"', "signed", 400, "malformed_json"),
    ("null", b"null", "signed", 400, "malformed_json"),
    ("number", b"42", "signed", 400, "malformed_json"),
    ("string", b'"realtime.call.incoming"', "signed", 400, "malformed_json"),
    ("bad-utf8", b'{"type": "\xff\xfe"}', "signed", 400, "malformed_json"),
    ("deep-array", b"[" * 200_000, "signed", 400, "malformed_json"),
    ("deep-object", b'{"a":' * 40_000 + b"1" + b"}" * 40_000, "signed", 400, "malformed_json"),
    ("type-int", b'{"type": 7}', "signed", 400, "malformed_json"),
    ("type-nan", b'{"type": NaN}', "signed", 400, "malformed_json"),
    ("type-object", b'{"type": {"name": "realtime.call.incoming"}}', "signed", 400, "malformed_json"),
    (
        "huge-int",
        b'{"type": "realtime.call.incoming", "data": {"call_id": ' + b"9" * 5000 + b"}}",
        "signed",
        400,
        "malformed_json",
    ),
    ("no-data", b'{"type": "realtime.call.incoming"}', "signed", 400, "missing_call_id"),
    ("no-headers", b"{}", "none", 401, "missing_header"),
    ("bad-timestamp", b"{}", "timestamp=12abc", 401, "bad_timestamp"),
    ("signed-timestamp", b"{}", "timestamp=-5", 401, "bad_timestamp"),
    ("huge-timestamp", b"{}", "timestamp=" + "9" * 40, 401, "bad_timestamp"),
    ("empty-v1", b"{}", "signature=v1,", 401, "malformed_signature"),
    ("v2-only", b"{}", "signature=v2,AAAA", 401, "malformed_signature"),
    ("long-signature", b"{}", "signature=v1," + "A" * 5000, 401, "malformed_signature"),
    ("long-id", b"{}", "id=" + "w" * 5000, 401, "malformed_signature"),
    ("too-large", b"x" * (MAX_BODY_BYTES + 1), "none", 413, "body_too_large"),
]


async def test_nasty_deliveries_get_4xx_never_500(rig: Rig, mock_clock: trio.testing.MockClock) -> None:
    """Hand-picked broken bodies and headers are each answered with their 4xx, never a 500."""
    seen = []
    for case_id, body, how, _status, _error in NASTY:
        if how == "none":
            headers: dict[str, Any] = {"content-type": "application/json"}
        else:
            headers = headers_for(rig.signer, body, webhook_id=f"wh_{case_id}")
            if how != "signed":
                name, _, value = how.partition("=")
                headers[f"webhook-{name}"] = value
        response = await rig.post_raw(body, headers)
        answer = response.json()
        seen.append((case_id, response.status_code, answer.get("reason", answer.get("error"))))

    assert seen == [(case_id, status, error) for case_id, _b, _h, status, error in NASTY]
    assert_not_forwarded(rig)


# -- fuzzing: hypothesis runs in a worker thread and drives the one rig -------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
_SIP_HEADER = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["To", "to", "t", "From", "Call-ID", "X"]) | _JSON,
        "value": st.sampled_from([UNROUTED, "sip:bob@host", "tel:+1", "<sip:", ""]) | _JSON,
    }
)
_EVENTS = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["realtime.call.incoming", "realtime.call.ended"]) | _JSON,
        "data": st.fixed_dictionaries(
            {
                "call_id": st.from_regex(r"rtc_[a-z0-9]{1,12}", fullmatch=True) | _JSON,
                "sip_headers": st.lists(_SIP_HEADER | _JSON, max_size=4) | _JSON,
            }
        )
        | _JSON,
    }
)
#: What HTTP lets through as a header value: visible bytes, inner spaces, obs-text (0x80-0xFF).
_HEADER_VALUE = (
    st.lists(st.integers(0x20, 0xFF).filter(lambda b: b != 0x7F), min_size=1, max_size=300)
    .map(bytes)
    .filter(lambda b: bool(b) and b == b.strip())
)
_FUZZ = settings(
    deadline=None, max_examples=30, database=None, suppress_health_check=[HealthCheck.too_slow]
)


async def test_fuzzed_signed_events_never_get_a_server_error(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """Signed events of any shape are answered 200 or 400 with a JSON body, never 5xx."""
    webhook_ids = (f"wh_fuzz_{n}" for n in range(10**6))

    @_FUZZ
    @given(event=_EVENTS)
    def check(event: dict[str, Any]) -> None:
        body = json.dumps(event).encode()
        headers = headers_for(rig.signer, body, webhook_id=next(webhook_ids))
        response = trio.from_thread.run(rig.post_raw, body, headers)
        answer = response.json()
        assert response.status_code in (200, 400), (response.status_code, answer)
        if response.status_code == 400:
            assert answer["error"] in ("malformed_json", "missing_call_id"), answer
        else:
            assert answer["ok"] is True
            assert "accepted" not in answer  # no fuzzed number routes to a tenant

    await trio.to_thread.run_sync(check, limiter=trio.CapacityLimiter(1))
    assert rig.logs.events("call_actor_crashed") == []


async def test_fuzzed_signature_headers_get_401(rig: Rig, mock_clock: trio.testing.MockClock) -> None:
    """Any webhook-signature bytes that are not the right signature are answered 401, never 5xx."""
    body = json.dumps(incoming_call_event("rtc_sig_fuzz", to=ACME)).encode()

    @_FUZZ
    @given(signature=_HEADER_VALUE)
    def check(signature: bytes) -> None:
        headers = headers_for(rig.signer, body)
        headers["webhook-signature"] = signature
        response = trio.from_thread.run(rig.post_raw, body, headers)
        assert response.status_code == 401, (signature, response.status_code, response.text)
        assert response.json()["error"] == "webhook_verification_failed"

    await trio.to_thread.run_sync(check, limiter=trio.CapacityLimiter(1))
    assert_not_forwarded(rig)


# -- the app's other routes ------------------------------------------------------------------


async def test_health_reports_serving(rig: Rig, mock_clock: trio.testing.MockClock) -> None:
    """GET /health reports serving (other paths and methods: tests/e2e/test_public_app.py)."""
    with trio.fail_after(WAIT_S):
        health = await rig.http.get(f"{rig.url}/health")
    assert health.status_code == 200
    assert health.json() == {
        "ok": True,
        "status": "serving",
        "draining": False,
        "replica_id": "replica-test",
    }
