"""Webhook verification, checked against the openai SDK's own verifier and our test signer."""

from __future__ import annotations

import base64
import json
import time

import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import Headers

from supervisor.testing import WebhookSigner, incoming_call_event, new_secret
from supervisor.webhooks import (
    MAX_HEADER_CHARS,
    WebhookMeta,
    WebhookVerificationError,
    verify_webhook,
)

TOLERANCE_S = 300
NOW = 1_750_287_078
SDK = openai.AsyncOpenAI(api_key="unused")
SIGNER = WebhookSigner(new_secret())
OTHER = WebhookSigner(new_secret())
BODY = json.dumps(incoming_call_event("rtc_1", created_at=NOW)).encode()


def signed(
    body: bytes = BODY, *, signer: WebhookSigner = SIGNER, ts: int = NOW, webhook_id: str = "wh_1"
) -> dict[str, str]:
    return signer.sign(body, webhook_id=webhook_id, timestamp=ts)


def verify(
    body: bytes,
    headers: dict[str, str] | Headers,
    *,
    secrets: tuple[bytes, ...] = (SIGNER.key,),
    now: float = NOW,
) -> WebhookMeta:
    return verify_webhook(body, headers, secrets, tolerance_s=TOLERANCE_S, now=now)


def reason(body: bytes, headers: dict[str, str]) -> str:
    with pytest.raises(WebhookVerificationError) as caught:
        verify(body, headers)
    return caught.value.reason


def sdk_accepts(body: bytes, headers: dict[str, str], secret: str) -> bool:
    try:
        SDK.webhooks.verify_signature(body, headers, secret=secret, tolerance=TOLERANCE_S)
    except (ValueError, TypeError):
        return False
    return True


def we_accept(body: bytes, headers: dict[str, str], keys: tuple[bytes, ...], now: float) -> bool:
    try:
        verify(body, headers, secrets=keys, now=now)
    except WebhookVerificationError:
        return False
    return True


# -- our verifier on its own ---------------------------------------------------------------


def test_valid_delivery_returns_its_id_and_timestamp() -> None:
    """A correctly signed delivery verifies and reports webhook-id and timestamp."""
    assert verify(BODY, signed(webhook_id="wh_abc")) == WebhookMeta(
        webhook_id="wh_abc", timestamp=NOW
    )


def test_signature_covers_the_exact_bytes() -> None:
    """Re-serialised JSON fails; a signed body that is not even UTF-8 still verifies."""
    reencoded = json.dumps(json.loads(BODY), indent=2).encode()
    assert reason(reencoded, signed()) == "bad_signature"
    raw = b"\xff\xfe not utf-8 \x80"
    assert verify(raw, signed(raw)).webhook_id == "wh_1"


def test_header_names_are_case_insensitive_in_any_mapping() -> None:
    """Mixed-case names work in a plain dict and in werkzeug's Headers."""
    mixed = {name.title(): value for name, value in signed().items()}
    assert verify(BODY, mixed).timestamp == NOW
    assert verify(BODY, Headers(list(mixed.items()))).timestamp == NOW


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_or_empty_header_names_the_header(header: str) -> None:
    """An absent or empty webhook-* header is missing_header, and the message says which."""
    for value in (None, ""):
        headers = signed()
        if value is None:
            del headers[header]
        else:
            headers[header] = value
        with pytest.raises(WebhookVerificationError) as caught:
            verify(BODY, headers)
        assert caught.value.reason == "missing_header"
        assert header in str(caught.value)


@pytest.mark.parametrize(
    "raw", ["soon", "12.5", " 1750287078", "1_750_287_078", "-5", "١٢٣", "9" * 40]
)
def test_timestamp_must_be_plain_digits(raw: str) -> None:
    """Anything but ASCII digits (bounded length) in webhook-timestamp is bad_timestamp."""
    headers = signed()
    headers["webhook-timestamp"] = raw
    assert reason(BODY, headers) == "bad_timestamp"


def test_timestamp_window_is_inclusive_both_ways() -> None:
    """Exactly tolerance_s old or ahead passes; one second more is stale or future."""
    assert verify(BODY, signed(ts=NOW - TOLERANCE_S)).timestamp == NOW - TOLERANCE_S
    assert verify(BODY, signed(ts=NOW + TOLERANCE_S)).timestamp == NOW + TOLERANCE_S
    assert reason(BODY, signed(ts=NOW - TOLERANCE_S - 1)) == "stale_timestamp"
    assert reason(BODY, signed(ts=NOW + TOLERANCE_S + 1)) == "future_timestamp"


@pytest.mark.parametrize(
    "signature",
    [
        "v1a,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
        "K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
        "v1,not base64!",
        "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4",
        "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI5=",
        "v1,AAAA",
        "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=é",
        "v1," + "A" * MAX_HEADER_CHARS,
        "   ",
    ],
)
def test_unreadable_signature_header_is_malformed(signature: str) -> None:
    """No v1 entry, bad or non-canonical base64, wrong length, non-ASCII, over-long: malformed."""
    headers = signed()
    headers["webhook-signature"] = signature
    assert reason(BODY, headers) == "malformed_signature"


def test_hostile_header_values_only_raise_verification_errors() -> None:
    """Over-long ids and ids that cannot be encoded are refused as malformed_signature."""
    for webhook_id in ("w" * (MAX_HEADER_CHARS + 1), "wh_\udc80"):
        headers = signed()
        headers["webhook-id"] = webhook_id
        assert reason(BODY, headers) == "malformed_signature"


def test_wrong_secret_or_tampering_is_bad_signature() -> None:
    """A readable v1 entry that matches no secret is bad_signature."""
    assert reason(BODY, signed(signer=OTHER)) == "bad_signature"
    assert reason(BODY + b" ", signed()) == "bad_signature"
    headers = signed()
    headers["webhook-id"] = "wh_2"
    assert reason(BODY, headers) == "bad_signature"


def test_any_entry_may_match_any_secret() -> None:
    """Rotation: either configured secret works, and any v1 entry in the header may match."""
    assert verify(BODY, signed(signer=OTHER), secrets=(SIGNER.key, OTHER.key)).webhook_id == "wh_1"
    both = " ".join(s.signature(BODY, webhook_id="wh_1", timestamp=NOW) for s in (OTHER, SIGNER))
    headers = {**signed(), "webhook-signature": f"v1a,ignored {both} v1,AAAA"}
    assert verify(BODY, headers).webhook_id == "wh_1"
    assert reason(BODY, headers | {"webhook-signature": "v1a,x v1,AAAA"}) == "malformed_signature"


def test_errors_never_carry_the_secret_or_the_body() -> None:
    """Messages and log dicts name the problem, never the key material or the payload."""
    secret_b64 = SIGNER.secret.removeprefix("whsec_")
    with pytest.raises(WebhookVerificationError) as caught:
        verify(BODY, signed(signer=OTHER))
    rendered = str(caught.value) + repr(caught.value) + json.dumps(caught.value.to_log_dict())
    assert secret_b64 not in rendered
    assert "rtc_1" not in rendered
    assert caught.value.to_log_dict()["reason"] == "bad_signature"


header_text = st.text(st.characters(exclude_categories=()), max_size=80)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    headers=st.dictionaries(
        st.sampled_from(["webhook-id", "Webhook-Timestamp", "webhook-signature", "x-other"]),
        header_text | st.from_regex(r"(v1a?,[A-Za-z0-9+/=]{0,48} ?){1,3}", fullmatch=True),
    ),
    body=st.binary(max_size=64),
    keys=st.lists(st.binary(max_size=40), max_size=3),
    now=st.floats(min_value=0, max_value=4e9),
)
def test_any_input_verifies_or_raises_verification_error(
    headers: dict[str, str], body: bytes, keys: list[bytes], now: float
) -> None:
    """Whatever arrives, the verifier returns WebhookMeta or raises WebhookVerificationError."""
    try:
        verify_webhook(body, headers, keys, tolerance_s=TOLERANCE_S, now=now)
        outcome = "accepted"
    except WebhookVerificationError as err:
        outcome = err.reason
    assert outcome in {
        "accepted",
        "missing_header",
        "bad_timestamp",
        "stale_timestamp",
        "future_timestamp",
        "malformed_signature",
        "bad_signature",
    }


# -- agreement with the openai SDK ---------------------------------------------------------


def test_sdk_accepts_what_our_signer_produces() -> None:
    """Our signer and the SDK agree: the SDK verifies and unwraps a delivery we signed."""
    now = int(time.time())
    headers = signed(ts=now)
    SDK.webhooks.verify_signature(BODY, headers, secret=SIGNER.secret, tolerance=TOLERANCE_S)
    event = SDK.webhooks.unwrap(BODY, headers, secret=SIGNER.secret)
    assert event.type == "realtime.call.incoming"


def test_raw_string_secrets_agree_with_the_sdk() -> None:
    """A secret without the whsec_ prefix is used as UTF-8 bytes, as in the SDK."""
    signer = WebhookSigner("plain-secret")
    now = int(time.time())
    headers = signer.sign(BODY, webhook_id="wh_1", timestamp=now)
    assert sdk_accepts(BODY, headers, "plain-secret")
    assert we_accept(BODY, headers, (b"plain-secret",), time.time())


def _case(name: str, now: int) -> tuple[bytes, dict[str, str], tuple[WebhookSigner, ...]]:
    """(body, headers, configured secrets) for one named scenario."""
    if name == "valid":
        return BODY, signed(ts=now), (SIGNER,)
    if name == "tampered_body":
        return BODY.replace(b"rtc_1", b"rtc_2"), signed(ts=now), (SIGNER,)
    if name == "wrong_secret":
        return BODY, signed(ts=now, signer=OTHER), (SIGNER,)
    if name == "stale":
        return BODY, signed(ts=now - TOLERANCE_S - 30), (SIGNER,)
    if name == "future":
        return BODY, signed(ts=now + TOLERANCE_S + 30), (SIGNER,)
    if name == "two_secrets_configured":
        return BODY, signed(ts=now, signer=OTHER), (SIGNER, OTHER)
    assert name == "two_signatures_in_header"
    both = " ".join(s.signature(BODY, webhook_id="wh_1", timestamp=now) for s in (OTHER, SIGNER))
    return BODY, {**signed(ts=now), "webhook-signature": both}, (SIGNER,)


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("valid", True),
        ("tampered_body", False),
        ("wrong_secret", False),
        ("stale", False),
        ("future", False),
        ("two_secrets_configured", True),
        ("two_signatures_in_header", True),
    ],
)
def test_decision_matches_the_sdk(name: str, accepted: bool) -> None:
    """On each scenario we accept exactly when the SDK accepts (with any configured secret)."""
    now = int(time.time())
    body, headers, signers = _case(name, now)
    sdk = any(sdk_accepts(body, headers, s.secret) for s in signers)
    ours = we_accept(body, headers, tuple(s.key for s in signers), time.time())
    assert (ours, sdk) == (accepted, accepted)


TAMPERS = ["none", "body", "signature", "timestamp", "webhook_id", "secret"]
B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.text(max_size=200).map(str.encode),
    webhook_id=st.text(min_size=1, max_size=40),
    offset_s=st.integers(-900, 900).filter(lambda o: abs(abs(o) - TOLERANCE_S) > 5),
    tamper=st.sampled_from(TAMPERS),
    position=st.integers(min_value=0, max_value=10_000),
    replacement=st.sampled_from(B64_ALPHABET),
    decoy=st.booleans(),
)
def test_property_our_decision_equals_the_sdks(
    body: bytes,
    webhook_id: str,
    offset_s: int,
    tamper: str,
    position: int,
    replacement: str,
    decoy: bool,
) -> None:
    """Random bodies, timestamps and tamperings: we accept if and only if the SDK accepts."""
    ts = int(time.time()) + offset_s
    headers = SIGNER.sign(body, webhook_id=webhook_id, timestamp=ts)
    secret = SIGNER
    if tamper == "body":
        if body:
            i = position % len(body)
            body = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
        else:
            body = b"x"
    elif tamper == "signature":
        sig = headers["webhook-signature"]
        i = 3 + position % (len(sig) - 4)  # a base64 character, never the "=" padding
        if sig[i] == replacement:
            replacement = "A" if replacement != "A" else "B"
        headers["webhook-signature"] = sig[:i] + replacement + sig[i + 1 :]
    elif tamper == "timestamp":
        headers["webhook-timestamp"] = str(ts + 1)
    elif tamper == "webhook_id":
        headers["webhook-id"] = webhook_id + "x"
    elif tamper == "secret":
        secret = OTHER
    if decoy:
        headers["webhook-signature"] = (
            "v1," + base64.b64encode(b"\0" * 32).decode() + " " + headers["webhook-signature"]
        )
    ours = we_accept(body, headers, (secret.key,), time.time())
    assert ours == sdk_accepts(body, headers, secret.secret)
    assert ours == (tamper == "none" and abs(offset_s) < TOLERANCE_S)
