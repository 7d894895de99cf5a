"""Hypothesis strategies for the three webhook headers: envelopes that verify, and broken ones.

An :class:`Envelope` says how each of ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature`` is sent (right, with decoys and repeats, or broken in one named way) and
which 401 reasons that may be answered with, in verify_webhook's order of checks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from attrs import frozen
from hypothesis import strategies as st

from .strategies import weighted

HEADER_NAMES = ("webhook-id", "webhook-timestamp", "webhook-signature")
#: Header names a fuzzed extra header may use: tokens that are not framing or webhook headers.
_RESERVED = {"content-length", "transfer-encoding", "host", "connection", "expect", "upgrade", "te", "trailer", "keep-alive", *HEADER_NAMES}
EXTRA_NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9\-]{0,19}", fullmatch=True).filter(lambda name: name.lower() not in _RESERVED)
#: Header value bytes HTTP lets through: visible ASCII, inner spaces, obs-text; no NUL or CR/LF.
HEADER_VALUES = (
    st.lists(st.integers(0x20, 0xFF).filter(lambda b: b != 0x7F), min_size=1, max_size=200)
    .map(bytes)
    .filter(lambda b: b == b.strip())
)


def readable(entry: str) -> bool:
    """Whether a signature entry is a ``v1`` digest verify_webhook can read (canonical base64, 32 bytes)."""
    version, _, encoded = entry.partition(",")
    try:
        digest = base64.b64decode(encoded, validate=True)
    except ValueError:
        return False
    return version == "v1" and len(digest) == 32 and base64.b64encode(digest).decode() == encoded


def sign(key: bytes, webhook_id: bytes, timestamp: bytes, body: bytes) -> str:
    """A ``v1,`` entry as OpenAI computes it, over the exact bytes sent."""
    return "v1," + base64.b64encode(hmac.new(key, webhook_id + b"." + timestamp + b"." + body, hashlib.sha256).digest()).decode()


@frozen
class Envelope:
    """How the three webhook headers are sent: each one right (with decoys) or broken.

    ``defects`` maps a header to how it is broken; ``reasons`` is the set of 401 reasons the
    delivery may get (empty when it verifies).
    """

    id_defect: str = "good"
    timestamp_defect: str = "good"
    signature_defect: str = "good"
    body_tampered: bool = False
    case: tuple[str, str, str] = HEADER_NAMES
    decoys_before: tuple[str, ...] = ()
    decoys_after: tuple[str, ...] = ()
    repeat: tuple[bool, bool, bool] = (False, False, False)
    extra: tuple[tuple[str, bytes], ...] = ()
    garbage: bytes = b"x"
    timestamp_garbage: bytes = b"12abc"
    skew_s: int = 0

    def reasons(self) -> frozenset[str]:
        """The 401 reasons this envelope may be answered with (verify_webhook's order of checks)."""
        defects = (self.id_defect, self.timestamp_defect, self.signature_defect)
        if any(defect in ("missing", "empty", "garbage_first_empty") for defect in defects):
            return frozenset({"missing_header"})
        if self.id_defect == "oversized":
            return frozenset({"malformed_signature"})
        if self.timestamp_defect == "not_a_number":
            return frozenset({"bad_timestamp"})
        if self.timestamp_defect in ("stale", "future"):
            return frozenset({f"{self.timestamp_defect}_timestamp"})
        if self.signature_defect in ("unreadable", "non_ascii", "oversized", "garbage_first"):
            return frozenset({"malformed_signature"})
        if self.signature_defect == "none_right" and not any(map(readable, self.decoys_before)):
            return frozenset({"malformed_signature"})
        if self.signature_defect != "good" or self.id_defect != "good" or self.body_tampered:
            return frozenset({"bad_signature"})
        return frozenset()

    def headers(self, body: bytes, *, key: bytes, webhook_id: str, now: int, other_key: bytes) -> list[tuple[bytes, bytes]]:
        """The request's headers for ``body`` (sent in this order, repeats included)."""
        id_value = webhook_id.encode()
        if self.id_defect == "oversized":
            id_value = b"w" * 4_200
        elif self.id_defect == "non_ascii":
            id_value = webhook_id.encode() + "-\u00e9\u260e".encode()
        timestamp = str(now + self.skew_s).encode()
        if self.timestamp_defect == "not_a_number":
            timestamp = self.timestamp_garbage
        signed_id = (webhook_id + "-\u00e9\u260e").encode() if self.id_defect == "non_ascii" else id_value
        signed_body = body + b" " if self.body_tampered else body
        good = sign(key, signed_id, timestamp, signed_body)
        signature = " ".join([*self.decoys_before, good, *self.decoys_after])
        defect = self.signature_defect
        if defect == "wrong_digest":
            signature = " ".join([*self.decoys_before, "v1," + base64.b64encode(hashlib.sha256(self.garbage).digest()).decode()])
        elif defect == "other_secret":
            signature = sign(other_key, signed_id, timestamp, signed_body)
        elif defect == "unreadable":
            signature = self.garbage.decode("latin-1")
        elif defect == "non_ascii":
            signature = good + " v1,\u00e9\u00ff=="
        elif defect == "oversized":
            signature = " ".join([good, *["v2,AAAA"] * 700])
        elif defect == "none_right":
            signature = " ".join(self.decoys_before or ("v1,AAAA",))
        values = {"webhook-id": id_value, "webhook-timestamp": timestamp, "webhook-signature": signature.encode("latin-1")}
        defects = dict(zip(HEADER_NAMES, (self.id_defect, self.timestamp_defect, self.signature_defect), strict=True))
        out: list[tuple[bytes, bytes]] = []
        for (name, sent_name), repeat in zip(zip(HEADER_NAMES, self.case, strict=True), self.repeat, strict=True):
            state = defects[name]
            if state == "missing":
                continue
            value = b"" if state == "empty" else values[name]
            if state == "garbage_first":
                out.append((sent_name.encode(), self.garbage))
            elif state == "garbage_first_empty":
                out.append((sent_name.encode(), b""))
            out.append((sent_name.encode(), value))
            if repeat:  # a second one after the first: only the first counts
                out.append((sent_name.encode(), self.garbage))
        out.extend((name.encode(), value) for name, value in self.extra)
        return out


_CASES = st.tuples(*(st.sampled_from([name, name.upper(), name.title()]) for name in HEADER_NAMES))
#: Entries that verify nothing but must not stop the right one from verifying.
DECOYS = st.lists(
    st.sampled_from(["v1,AAAA", "v0,xyz", "v2,c2lnbmF0dXJl", "v1,", "garbage", "v1,bm90IGEgZGlnZXN0IG9mIDMyIGJ5dGVzISEhISEhISEhISE="])
    | st.binary(min_size=32, max_size=32).map(lambda raw: "v1," + base64.b64encode(raw).decode()),
    max_size=3,
)
_NOT_A_NUMBER = st.sampled_from([b"12abc", b"-5", b"+5", b"1e9", b"0x10", b"12.0", b"1 2", b"9" * 19, b"NaN", "\u0661\u0662".encode()]) | HEADER_VALUES.filter(lambda b: not b.isdigit())
_UNREADABLE = HEADER_VALUES.filter(lambda b: b"v1," not in b and b.isascii())


@st.composite
def good_envelopes(draw: st.DrawFn) -> Envelope:
    """Envelopes that verify: any header case, decoy entries, repeats after the first, extra headers."""
    return Envelope(
        case=draw(_CASES),
        decoys_before=tuple(draw(DECOYS)),
        decoys_after=tuple(draw(DECOYS)),
        repeat=draw(st.tuples(st.booleans(), st.booleans(), st.booleans())),
        extra=tuple(draw(st.lists(st.tuples(EXTRA_NAMES, HEADER_VALUES), max_size=4))),
        garbage=draw(HEADER_VALUES),
        skew_s=draw(st.sampled_from([0, 0, -280, 280]) | st.integers(-280, 280)),
    )


DEFECTS = [
    *(("id", defect) for defect in ("missing", "empty", "oversized", "non_ascii", "garbage_first_empty")),
    *(("timestamp", defect) for defect in ("missing", "empty", "not_a_number", "stale", "future")),
    *(
        ("signature", defect)
        for defect in ("missing", "empty", "wrong_digest", "other_secret", "unreadable", "non_ascii", "oversized", "none_right", "garbage_first")
    ),
    ("body", "tampered"),
]


@st.composite
def bad_envelopes(draw: st.DrawFn) -> Envelope:
    """Envelopes with at least one defect: missing, empty, oversized, non-ASCII, stale, garbage, ..."""
    # One defect chosen evenly among all of them, then sometimes a second one elsewhere: the
    # reason the answer gives is the first failing check's.
    defects = {"id": "good", "timestamp": "good", "signature": "good", "body": "good"}
    header, defect = draw(st.sampled_from(DEFECTS))
    defects[header] = defect
    if draw(weighted(st.just(False), st.just(True), 0.25)):
        other, second = draw(st.sampled_from(DEFECTS))
        defects[other] = second
    id_defect, timestamp_defect, signature_defect = defects["id"], defects["timestamp"], defects["signature"]
    tampered = defects["body"] == "tampered"
    skew = 0
    if timestamp_defect == "stale":
        skew = -draw(st.integers(301, 10**9))
    elif timestamp_defect == "future":  # 10 s of margin: the request may take a while to arrive
        skew = draw(st.integers(310, 10**9))
    garbage = draw(_UNREADABLE if signature_defect in ("unreadable", "garbage_first") else HEADER_VALUES)
    good = draw(good_envelopes())
    return Envelope(
        id_defect=id_defect,
        timestamp_defect=timestamp_defect,
        signature_defect=signature_defect,
        body_tampered=tampered,
        case=good.case,
        decoys_before=good.decoys_before,
        decoys_after=good.decoys_after,
        repeat=good.repeat,
        extra=good.extra,
        garbage=garbage,
        timestamp_garbage=draw(_NOT_A_NUMBER),
        skew_s=skew,
    )
