"""Fuzzed webhook deliveries against the real public app on loopback (issue 11, deliverable 1).

Three properties, each over many generated deliveries to one callvisor and one simulated
platform (tests/fuzz/harness.py says how, and why in a worker thread):

- an unsigned or badly signed delivery (headers missing, empty, repeated, oversized, non-ASCII,
  timestamps out of range or not numbers, signatures garbled, several, or for another body) is
  answered README's 401 row with the reason the first failing check gives, and nothing reaches
  OpenAI;
- a validly signed body of any shape (truncated, NULs, nested hundreds to thousands deep, huge
  strings, every field of ``data`` of the wrong type, not JSON at all) gets exactly the README
  row the README's rules give it (tests/fuzz/oracle.py), never a 500 and never a non-JSON body;
- a validly signed call with odd SIP headers (``To``/``From`` without a number, garbage URIs,
  unicode, very long, many headers) is decided as its first ``To`` routes it: an accepted call
  is live on the operator port and ends (caller, operator or model hangs up), a rejected one
  sends its SIP status, a redelivery is a duplicate.

After every example no actor, slot or sideband is left and nothing went wrong in the process's
output (``FuzzRig.settle``).  ``make test`` runs the bounded profile, ``make fuzz`` the long one.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import trio
from attrs import frozen
from hypothesis import example, given
from hypothesis import strategies as st

from supervisor.testing import WebhookSigner, new_secret
from tests.fuzz.envelopes import DEFECTS, Envelope, bad_envelopes, good_envelopes
from tests.fuzz.harness import FuzzRig, open_fuzz_rig
from tests.fuzz.oracle import (
    MAX_BODY_BYTES,
    NUMBERS,
    OUTCOME,
    SIP_STATUS,
    Prediction,
    predict,
    readme_row,
)
from tests.fuzz.profiles import fuzz_settings
from tests.fuzz.strategies import CALL_ID_MARK, Body, bodies, call_bodies, nested_text
from tests.rig import WAIT_S

#: Hypothesis warns when it prints an example of 256 KiB (its own reports): that is the point here.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning")

OTHER_KEY = WebhookSigner(new_secret()).key
#: How a body is framed: Content-Length (0, mostly), or chunked in pieces of about this size.
CHUNKS = st.sampled_from([0, 0, 0, 1, 7, 1_000, 65_536])
#: Tenants with the end_call tool (config/examples/tenants.yaml); piedpiper has no tools.
END_CALL_TENANTS = {"acme", "globex"}


def plain_call(tenant: str = "acme", **extra: Any) -> Body:
    """An ordinary call to ``tenant``'s number, as OpenAI sends it."""
    number = NUMBERS[tenant]
    sip_headers = [
        {"name": "From", "value": "sip:+14255550123@sip.example.com"},
        {"name": "To", "value": f"sip:{number}@sip.example.com"},
        {"name": "Call-ID", "value": "3f8a"},
    ]
    data = {"call_id": CALL_ID_MARK, "sip_headers": sip_headers, "sip_media_security": "srtp"}
    return Body({"object": "event", "id": "evt_1", "type": "realtime.call.incoming", "created_at": 1, "data": data, **extra})


def with_examples(examples: list[dict[str, Any]]) -> Any:
    """Apply ``@example(**kwargs)`` for each: the cases every run tries, whatever it generates."""

    def apply(test: Any) -> Any:
        for kwargs in reversed(examples):
            test = example(**kwargs)(test)
        return test

    return apply


def headers_for(fuzz: FuzzRig, body: bytes, envelope: Envelope, webhook_id: str) -> list[tuple[bytes, bytes]]:
    """The envelope's headers for ``body``, signed now (wall clock, as OpenAI signs)."""
    return envelope.headers(body, key=fuzz.rig.signer.key, webhook_id=webhook_id, now=int(time.time()), other_key=OTHER_KEY)


# -- unsigned and badly signed ----------------------------------------------------------------


async def refused(fuzz: FuzzRig, template: Body, envelope: Envelope, chunk: int) -> str:
    """One badly signed delivery: README's 401 with the first failing check's reason (413 if too big)."""
    n = fuzz.fresh()
    body = template.render(f"rtc_{n}_")  # "_": no suffix turns one number into another
    requests, lines = len(fuzz.platform.requests), len(fuzz.logs.lines)
    status, payload = await fuzz.post(body, headers_for(fuzz, body, envelope, f"wh_{n}"), chunk=chunk)
    fuzz.note(f"answer {status} {payload}")
    row = readme_row(status, payload)
    new_lines = fuzz.logs.lines[lines:]
    if len(body) > MAX_BODY_BYTES:
        assert row == "too_large"
        assert [(line["event"], line["reason"]) for line in new_lines] == [("webhook_invalid", "body_too_large")]
    else:
        assert row == "unauthorized"
        assert payload["reason"] in envelope.reasons(), (payload, envelope.reasons())
        assert [(line["event"], line["reason"]) for line in new_lines] == [("webhook_verification_failed", payload["reason"])]
    assert fuzz.platform.requests[requests:] == []
    await fuzz.settle(via_http=False)
    return f"{status} {payload.get('reason', payload['error'])}"


#: Each defect alone on an ordinary call, and an unsigned body over 256 KiB.
BAD_ENVELOPES = [
    {
        "template": plain_call(),
        "envelope": Envelope(body_tampered=True)
        if header == "body"
        else Envelope(**{f"{header}_defect": defect}, skew_s={"stale": -400, "future": 400}.get(defect, 0)),
    }
    for header, defect in DEFECTS
] + [
    {"template": plain_call(pad="p" * MAX_BODY_BYTES), "envelope": Envelope(signature_defect="missing"), "chunk": chunk}
    for chunk in (0, 4096)
]
for _case in BAD_ENVELOPES:
    _case.setdefault("chunk", 0)


async def test_unsigned_and_badly_signed_deliveries_get_401_and_reach_nobody() -> None:
    """Any broken envelope on any body: 401 with its reason (or 413), one log line, no call control."""
    async with open_fuzz_rig() as fuzz:

        @fuzz_settings("envelopes")
        @given(template=bodies() | call_bodies(), envelope=bad_envelopes(), chunk=CHUNKS)
        @with_examples(BAD_ENVELOPES)
        def check(template: Body, envelope: Envelope, chunk: int) -> None:
            fuzz.run_example("test_unsigned_and_badly_signed_deliveries_get_401_and_reach_nobody", refused, template, envelope, chunk)

        await trio.to_thread.run_sync(check)


# -- validly signed -----------------------------------------------------------------------------


@frozen
class Script:
    """What else happens around one signed delivery."""

    known: bool = True  # the platform expects the call (else OpenAI answers 404: the caller is gone)
    redeliver: str = "none"  # none | same_webhook_id | new_webhook_id
    ending: str = "caller_hangup"  # caller_hangup | abort | operator | end_call
    chunk: int = 0  # > 0: the body is sent chunked, in pieces of about this size


SCRIPTS = st.builds(
    Script,
    known=st.sampled_from([True, True, True, False]),
    redeliver=st.sampled_from(["none", "none", "same_webhook_id", "new_webhook_id"]),
    ending=st.sampled_from(["caller_hangup", "abort", "operator", "end_call"]),
    chunk=CHUNKS,
)


async def signed(fuzz: FuzzRig, template: Body, envelope: Envelope, script: Script) -> str:
    """One validly signed delivery: the README row its body gets; a call decided and ended."""
    n = fuzz.fresh()
    body = template.render(f"rtc_{n}_")  # "_": no suffix turns one number into another
    webhook_id = f"wh_{n}"
    expected = predict(body)
    fuzz.note(f"predicted {expected}, {len(body)} bytes")
    # A call_id an earlier example decided (a generated one, such as "0", may come again):
    # README's duplicate row, and nothing reaches OpenAI.
    decided_before = expected.row == "call" and expected.call_id in fuzz.decided
    if expected.row == "call" and script.known and not decided_before:
        assert expected.call_id is not None
        fuzz.platform.expect_call(expected.call_id)
    requests = len(fuzz.platform.requests)
    status, payload = await fuzz.post(body, headers_for(fuzz, body, envelope, webhook_id), chunk=script.chunk)
    fuzz.note(f"answer {status} {payload}")
    row = readme_row(status, payload)
    if decided_before:
        assert (status, payload) == (200, {"ok": True, "duplicate": True})
        assert fuzz.platform.requests[requests:] == []
        await fuzz.settle(via_http=False)
        return "200 duplicate (call_id decided before)"
    if expected.row != "call":
        assert (status, payload) == not_a_call(expected)
        assert fuzz.platform.requests[requests:] == []
        await fuzz.settle(via_http=False)
        return f"{status} {row}"
    assert expected.call_id is not None
    fuzz.decided.add(expected.call_id)  # accepted, rejected or gone: all definitive
    label = await decided(fuzz, expected, script, row, payload, requests)
    if script.redeliver != "none":
        again = webhook_id if script.redeliver == "same_webhook_id" else f"wh_{n}_again"
        requests = len(fuzz.platform.requests)
        answer = await fuzz.post(body, headers_for(fuzz, body, envelope, again))
        assert answer == (200, {"ok": True, "duplicate": True})
        assert fuzz.platform.requests[requests:] == []
        label += ", then duplicate"
    await fuzz.settle(via_http=True)
    return label


def not_a_call(expected: Prediction) -> tuple[int, dict[str, Any]]:
    if expected.row == "too_large":
        return 413, {"ok": False, "error": "body_too_large"}
    if expected.row == "ignored":
        return 200, {"ok": True, "ignored": expected.ignored}
    return 400, {"ok": False, "error": expected.row}


async def decided(fuzz: FuzzRig, expected: Prediction, script: Script, row: str, payload: dict[str, Any], requests: int) -> str:
    """The call got its tenant's decision and OpenAI what that decision sends; an accepted one ends."""
    call_id, tenant = expected.call_id, expected.tenant
    assert call_id is not None
    kind, reason = OUTCOME[tenant]
    if not script.known:  # OpenAI answers the accept or reject 404: the caller hung up already
        assert (row, payload) == ("gone", {"ok": True, "gone": call_id})
        assert [r.action for r in fuzz.platform.requests[requests:]] == ["reject" if kind == "rejected" else "accept"]
        return "200 gone"
    sent = fuzz.platform.requests[requests:]
    if kind == "rejected":
        assert (row, payload) == ("rejected", {"ok": True, "rejected": reason})
        assert [(r.action, r.body) for r in sent] == [("reject", {"status_code": SIP_STATUS[str(reason)]})]
        return f"200 rejected {reason}"
    assert (row, payload) == ("accepted", {"ok": True, "accepted": call_id})
    assert [r.action for r in sent] == ["accept"]
    return f"200 accepted {tenant}, ended by " + await live_then_ended(fuzz, call_id, tenant, script.ending)


async def live_then_ended(fuzz: FuzzRig, call_id: str, tenant: str, ending: str) -> str:
    """The accepted call is on the operator port's tree; it ends the way ``ending`` says."""
    await fuzz.rig.wait_session(call_id)
    tree = await fuzz.driver.actors()
    assert [call["call_id"] for call in tree["calls"]] == [call_id]
    view = await fuzz.driver.admin("GET", f"/actors/{call_id}")
    assert view.status_code == 200
    assert view.json()["state"] == "live"
    call = fuzz.platform.call(call_id)
    if ending == "end_call" and tenant not in END_CALL_TENANTS:
        ending = "caller_hangup"
    with trio.fail_after(WAIT_S):
        if ending == "caller_hangup":
            await call.caller_hangup()
        elif ending == "abort":
            await call.abort()
        elif ending == "operator":
            answer = await fuzz.driver.admin("POST", f"/actors/{call_id}/hangup")
            assert answer.status_code == 202
        else:
            await call.function_call("end_call", "{}")
    ended = await fuzz.rig.wait_log("call_ended", call_id=call_id)
    reason = {"caller_hangup": "caller_hangup", "abort": "caller_hangup", "operator": "operator_hangup", "end_call": "end_call"}
    assert ended["reason"] == reason[ending]
    hangups = fuzz.platform.actions(call_id).count("hangup")
    assert hangups == int(ended.get("close_code") != 1000), (ended, fuzz.platform.actions(call_id))
    return ending


_DEEP_900 = ("@@deep@@", nested_text(900, "mixed"))
#: The shapes that found something once, and one of each kind.
ODD_BODIES = [
    {"template": template, "envelope": Envelope(), "script": Script()}
    for template in [
        plain_call(),
        Body(plain_call().value | {"metadata": "@@deep@@"}, (_DEEP_900,)),  # issue 11's RecursionError
        Body("@@deep@@", (_DEEP_900,)),
        Body(plain_call().value, mangle="truncate", cut=0.5),
        Body(plain_call().value, mangle="nul", cut=0.3),
        Body(plain_call().value, mangle="append"),
        Body([plain_call().value]),
        Body(None, raw=b"\xff\xfe\x00{"),
        plain_call(pad="p" * MAX_BODY_BYTES),
        plain_call(type="realtime.call.ended"),
    ]
] + [
    {"template": template, "envelope": Envelope(), "script": Script(chunk=1_000)}
    for template in (plain_call(), plain_call(pad="p" * MAX_BODY_BYTES))
]
#: One JSON value of each type that is not a string.
WRONG_TYPES: list[Any] = [None, True, 7, 2.5, ["realtime.call.incoming"], {"value": "x"}]


def with_field(path: tuple[Any, ...], value: Any) -> Body:
    """An ordinary acme call with the field at ``path`` (keys and list indexes) set to ``value``."""
    event = plain_call().value
    target = event
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return Body(event)


#: Every field of the event and of ``data``, each holding a value of every wrong type.
FIELDS = [("type",), ("data",), ("data", "call_id"), ("data", "sip_headers"), ("data", "sip_headers", 1), ("data", "sip_headers", 1, "name"), ("data", "sip_headers", 1, "value")]
ODD_BODIES += [
    {"template": with_field(path, value), "envelope": Envelope(), "script": Script()}
    for path in FIELDS
    for value in WRONG_TYPES
]


async def test_signed_bodies_of_any_shape_get_their_readme_row() -> None:
    """Truncated, NUL-laden, deep, huge, mistyped or non-JSON signed bodies: exactly their README row."""
    async with open_fuzz_rig() as fuzz:

        @fuzz_settings("bodies")
        @given(template=bodies(), envelope=good_envelopes(), script=SCRIPTS)
        @with_examples(ODD_BODIES)
        def check(template: Body, envelope: Envelope, script: Script) -> None:
            fuzz.run_example("test_signed_bodies_of_any_shape_get_their_readme_row", signed, template, envelope, script)

        await trio.to_thread.run_sync(check)


#: Every tenant's outcome, every way an accepted call ends, a call OpenAI no longer has, redeliveries.
CALLS = [
    *({"template": plain_call(tenant), "envelope": Envelope(), "script": Script()} for tenant in OUTCOME),
    *(
        {"template": plain_call(), "envelope": Envelope(), "script": Script(ending=ending)}
        for ending in ("abort", "operator", "end_call")
    ),
    {"template": plain_call(), "envelope": Envelope(), "script": Script(known=False)},
    {"template": plain_call("initech"), "envelope": Envelope(), "script": Script(known=False)},
    {"template": plain_call(), "envelope": Envelope(), "script": Script(redeliver="same_webhook_id")},
    {"template": plain_call("hooli"), "envelope": Envelope(), "script": Script(redeliver="new_webhook_id")},
]


async def test_signed_calls_with_odd_sip_headers_are_decided_and_end_without_leaks() -> None:
    """Odd To/From values and many headers: routed by the first To, live then ended, nothing left."""
    async with open_fuzz_rig() as fuzz:

        @fuzz_settings("calls")
        @given(template=call_bodies(), envelope=good_envelopes(), script=SCRIPTS)
        @with_examples(CALLS)
        def check(template: Body, envelope: Envelope, script: Script) -> None:
            fuzz.run_example("test_signed_calls_with_odd_sip_headers_are_decided_and_end_without_leaks", signed, template, envelope, script)

        await trio.to_thread.run_sync(check)
