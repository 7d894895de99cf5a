"""Standard Webhooks verification for OpenAI's ``realtime.call.incoming`` deliveries.

OpenAI signs each delivery with HMAC-SHA256 over ``"{webhook-id}.{webhook-timestamp}.{body}"``
and sends the base64 digest as ``v1,<digest>`` in ``webhook-signature``; during a secret rotation
the header carries one entry per active secret, space-separated.  :func:`verify_webhook` checks
that envelope against every configured secret and either returns the delivery's
:class:`WebhookMeta` or raises :class:`WebhookVerificationError` with a short ``reason``:

=====================  ============================================================================
reason                 meaning
=====================  ============================================================================
``missing_header``     ``webhook-id``, ``webhook-timestamp`` or ``webhook-signature`` is absent/empty
``bad_timestamp``      ``webhook-timestamp`` is not a plain base-10 integer
``stale_timestamp``    the timestamp is more than ``tolerance_s`` seconds in the past
``future_timestamp``   the timestamp is more than ``tolerance_s`` seconds in the future
``malformed_signature``  the envelope cannot be read: no usable ``v1`` entry, non-ASCII or
                       over-long header values, a digest that is not canonical base64
``bad_signature``      a readable ``v1`` entry exists but none matches any secret
=====================  ============================================================================

Deliberate differences from ``openai``'s ``client.webhooks.verify_signature`` (which the tests
cross-check against on every input both accept as well-formed):

- the body is signed as the exact bytes received, never decoded and re-encoded;
- entries must carry the ``v1,`` prefix (the SDK also tries unprefixed entries);
- the timestamp must be ASCII digits only (the SDK's ``int()`` also takes ``" 12"``, ``"1_2"``);
- every failure is a :class:`WebhookVerificationError`, never ``TypeError`` or a bare
  ``ValueError``.

This module is pure: no I/O, no logging, no clock (the caller passes ``now``).  Messages never
contain a secret or the body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence

from attrs import frozen

from .errors import WebhookVerificationError

__all__ = ["WebhookMeta", "WebhookVerificationError", "verify_webhook"]

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"

#: Longest header value we read, in characters; anything longer is refused unparsed.
MAX_HEADER_CHARS = 4096
_MAX_TIMESTAMP_DIGITS = 18
_DIGEST_BYTES = hashlib.sha256().digest_size


@frozen(kw_only=True)
class WebhookMeta:
    """What a verified delivery tells us about itself."""

    #: Stable across OpenAI's retries of one delivery: the idempotency key.
    webhook_id: str
    #: Unix seconds of this delivery attempt (changes on every retry).
    timestamp: int


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[bytes],
    *,
    tolerance_s: int,
    now: float,
) -> WebhookMeta:
    """Verify one delivery and return its id and timestamp.

    ``body`` is the raw request body exactly as received.  ``headers`` is any str-to-str
    mapping; names are matched case-insensitively.  ``secrets`` are raw HMAC keys (a
    ``whsec_`` secret already base64-decoded); the delivery is accepted when any ``v1`` entry
    matches any secret.  ``now`` is wall-clock Unix time.

    Raises :class:`WebhookVerificationError`; nothing else.
    """
    webhook_id = _required(headers, ID_HEADER)
    raw_timestamp = _required(headers, TIMESTAMP_HEADER)
    raw_signature = _required(headers, SIGNATURE_HEADER)

    if len(webhook_id) > MAX_HEADER_CHARS:
        raise WebhookVerificationError(
            "malformed_signature",
            f"{ID_HEADER} header is longer than {MAX_HEADER_CHARS} characters",
        )
    timestamp = _parse_timestamp(raw_timestamp)
    if now - timestamp > tolerance_s:
        raise WebhookVerificationError(
            "stale_timestamp", f"{TIMESTAMP_HEADER} is more than {tolerance_s}s in the past"
        )
    if timestamp - now > tolerance_s:
        raise WebhookVerificationError(
            "future_timestamp", f"{TIMESTAMP_HEADER} is more than {tolerance_s}s in the future"
        )

    candidates = _parse_signatures(raw_signature)
    try:
        signed = f"{webhook_id}.{raw_timestamp}.".encode() + body
    except UnicodeEncodeError:
        raise WebhookVerificationError(
            "malformed_signature", f"{ID_HEADER} header cannot be encoded as UTF-8"
        ) from None
    for secret in secrets:
        expected = hmac.new(secret, signed, hashlib.sha256).digest()
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            return WebhookMeta(webhook_id=webhook_id, timestamp=timestamp)
    raise WebhookVerificationError(
        "bad_signature", "no v1 signature matches a configured webhook secret"
    )


def _required(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    if not value:
        raise WebhookVerificationError("missing_header", f"{name} header is missing or empty")
    return value


def _parse_timestamp(raw: str) -> int:
    if not (len(raw) <= _MAX_TIMESTAMP_DIGITS and raw.isascii() and raw.isdigit()):
        raise WebhookVerificationError(
            "bad_timestamp", f"{TIMESTAMP_HEADER} is not an integer number of seconds"
        )
    return int(raw)


def _parse_signatures(raw: str) -> list[bytes]:
    """The decoded ``v1`` digests in the header; at least one, or malformed_signature."""
    if len(raw) > MAX_HEADER_CHARS:
        raise WebhookVerificationError(
            "malformed_signature",
            f"{SIGNATURE_HEADER} header is longer than {MAX_HEADER_CHARS} characters",
        )
    if not raw.isascii():
        raise WebhookVerificationError(
            "malformed_signature", f"{SIGNATURE_HEADER} header contains non-ASCII characters"
        )
    digests = []
    for entry in raw.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        digest = _decode_digest(encoded)
        if digest is not None:
            digests.append(digest)
    if not digests:
        raise WebhookVerificationError(
            "malformed_signature", f"{SIGNATURE_HEADER} header has no readable v1 entry"
        )
    return digests


def _decode_digest(encoded: str) -> bytes | None:
    """A SHA-256 digest from canonical padded base64, or None."""
    try:
        digest = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    # Non-canonical spellings (stray bits in the last character) decode to the same bytes;
    # refuse them so that we accept exactly the strings the SDK's string comparison accepts.
    if len(digest) != _DIGEST_BYTES or base64.b64encode(digest).decode() != encoded:
        return None
    return digest
