"""A GPT-Live tenant's calls, end to end: the Live REST paths, with the same decision rules.

Every request callvisor sends for a Live tenant goes to ``/v1/live/sessions/{session_id}/...``
and its accept body validates against the openai SDK's own Live accept type; the sideband
attaches at ``{OPENAI_LIVE_URL}/sessions/{session_id}/attach``.  The lifecycle of a Live call
beside a Realtime one is tests/lifecycle/test_lifecycle_runtimes.py.
"""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pydantic
import pytest
import trio
import trio.testing
import yaml
from openai.types.live.session_accept_params import Session, SessionAcceptParams

import config
from config.models import DEFAULT_DELEGATION_INSTRUCTIONS
from supervisor.testing import live_incoming_event
from tests.rig import WAIT_S, Rig, open_rig
from tests.wire import check_client_event

LIVE_EXAMPLE = Path(config.__file__).parent / "examples" / "tenants-live.yaml"
WONKA = "sip:+18005550200@sip.example.com"
ACCEPT_PARAMS = pydantic.TypeAdapter(SessionAcceptParams)
SESSION_KEYS = Session.__required_keys__ | Session.__optional_keys__

#: Live tenants broken the ways the guide's rejections name, beside the example's two.
BROKEN_LIVE = textwrap.dedent(
    """
    - id: live-unconfigured
      phone_numbers: ["+18005550210"]
      config: {schema_version: 1, runtime: live}
      prompts: {greetings: {g: hello}, instructions: {i: help}}
    - id: live-no-greeting
      phone_numbers: ["+18005550211"]
      state: {greeting_id: g, instruction_id: i}
      config: {schema_version: 1, runtime: live}
      prompts: {greetings: {g: ""}, instructions: {i: help}}
    - id: live-bad-config
      phone_numbers: ["+18005550212"]
      state: {greeting_id: g, instruction_id: i}
      config: {schema_version: 1, runtime: live, live: {delegation_model: 5}}
      prompts: {greetings: {g: hello}, instructions: {i: help}}
    - id: live-plain
      phone_numbers: ["+18005550213"]
      state: {greeting_id: g, instruction_id: i}
      config: {schema_version: 1, runtime: live}
      prompts: {greetings: {g: hello}, instructions: {i: help}}
    """
)


@pytest.fixture
async def live_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """The rig over the Live example plus BROKEN_LIVE."""
    document = yaml.safe_load(LIVE_EXAMPLE.read_text(encoding="utf-8"))
    document["tenants"].extend(yaml.safe_load(BROKEN_LIVE))
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    env = {"CALLVISOR_TENANTS_FILE": str(path), "CALLVISOR_CALL_CONTROL_TIMEOUT_S": "120"}
    async with open_rig(env) as rig:
        yield rig


def validate_accept(body: dict[str, Any]) -> None:
    """Validate a Live accept body against the SDK's type, tools included (pydantic checks an
    ``Iterable`` field's items lazily, so they are drained), and only with keys it names."""
    validated = ACCEPT_PARAMS.validate_python(body)
    responses = validated["session"].get("delegation", {}).get("responses", {})
    assert len(list(responses.get("tools", []))) == len(body["session"]["delegation"]["responses"].get("tools", []))
    assert set(body["session"]) <= SESSION_KEYS


async def live_call(rig: Rig, session_id: str, to: str, **kwargs: Any) -> dict[str, Any]:
    with trio.fail_after(WAIT_S):
        response = await rig.live_call(session_id, to=to, **kwargs)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_live_tenant_is_accepted_on_the_live_path_with_an_sdk_valid_session(
    live_rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """wonka-live: accepted via /live/sessions/{id}/accept; the body is the SDK's SessionAcceptParams."""
    assert await live_call(live_rig, "live_w1", WONKA) == {"ok": True, "accepted": "live_w1"}

    with trio.fail_after(WAIT_S):
        accept = await live_rig.platform.wait_for_request("accept", "live_w1")
    assert accept.runtime == "live"
    body = accept.body
    assert body is not None
    validate_accept(body)
    session = body["session"]
    assert set(body) == {"session"}
    assert (session["type"], session["model"]) == ("live", "gpt-live-1")
    assert session["audio"] == {"output": {"voice": "marin"}}
    assert session["instructions"].startswith("You answer the phone for Wonka's sweet shop.")
    delegation = session["delegation"]
    assert delegation["type"] == "responses"
    assert delegation["responses"]["model"] == "gpt-5.4-mini"
    assert delegation["responses"]["instructions"].startswith("You run the tools of Wonka's phone line.")
    assert [t["name"] for t in delegation["responses"]["tools"]] == ["end_call", "transfer_call"]
    assert {t["type"] for t in delegation["responses"]["tools"]} == {"function"}
    line = await live_rig.wait_log("call_accepted", call_id="live_w1")
    assert (line["tenant_id"], line["runtime"], line["model"]) == ("wonka-live", "live", "gpt-live-1")


async def test_a_live_tenant_without_live_keys_gets_the_documented_delegation(
    live_rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """live-plain names only runtime: live: model gpt-live-1 and the default delegation, no tools."""
    await live_call(live_rig, "live_p1", "sip:+18005550213@sip.example.com")
    with trio.fail_after(WAIT_S):
        accept = await live_rig.platform.wait_for_request("accept", "live_p1")
    assert accept.body is not None
    validate_accept(accept.body)
    assert accept.body["session"]["model"] == "gpt-live-1"
    assert accept.body["session"]["delegation"] == {
        "type": "responses",
        "responses": {"model": "gpt-5.4-mini", "instructions": DEFAULT_DELEGATION_INSTRUCTIONS},
    }


async def test_an_accepted_live_call_attaches_greets_and_ends_on_session_closed(
    live_rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """Attach at /v1/live/sessions/{id}/attach once accepted; the greeting is a commentary
    append the SDK accepts; the caller's session.closed ends the call without a REST hangup."""
    await live_call(live_rig, "live_w2", WONKA)
    await live_rig.wait_session("live_w2")
    session = live_rig.platform.live_session("live_w2")
    assert session.attach_paths == ["/v1/live/sessions/live_w2/attach"]
    assert [(h.call_id, h.status) for h in live_rig.platform.handshakes] == [("live_w2", 101)]
    with trio.fail_after(WAIT_S):
        greeting = await session.wait_for_client_event("session.commentary.append")
    assert greeting == {
        "type": "session.commentary.append",
        "delegation_id": None,
        "content": "Wonka's sweet shop, hello! What can I get you today?",
    }
    check_client_event("live", greeting)
    tree = (await live_rig.admin("GET", "/actors")).json()
    assert [(c["call_id"], c["runtime"], c["state"]) for c in tree["calls"]] == [("live_w2", "live", "live")]

    with trio.fail_after(WAIT_S):
        await session.caller_hangup()
    ended = await live_rig.wait_log("call_ended", call_id="live_w2")
    assert (ended["reason"], ended["closed_reason"], ended["runtime"]) == ("caller_hangup", "remote_hangup", "live")
    assert live_rig.actions("live_w2") == ["accept"]
    with trio.fail_after(WAIT_S):
        await live_rig.platform.wait_sidebands_closed()
    tree = (await live_rig.admin("GET", "/actors")).json()
    assert (tree["capacity"]["used"], tree["calls"]) == (0, [])


@pytest.mark.parametrize(
    ("session_id", "to", "rejected", "status"),
    [
        ("live_r1", "sip:+18005550210@sip.example.com", "tenant_not_configured", 480),
        ("live_r2", "sip:+18005550211@sip.example.com", "instructions_missing", 480),
        ("live_r3", "sip:+18005550212@sip.example.com", "tenant_config_parse_error", 480),
    ],
)
async def test_live_rejections_carry_their_sip_status(
    live_rig: Rig, mock_clock: trio.testing.MockClock, session_id: str, to: str, rejected: str, status: int
) -> None:
    """A broken Live tenant is rejected on the Live path with the status the Live API requires."""
    assert await live_call(live_rig, session_id, to) == {"ok": True, "rejected": rejected}
    with trio.fail_after(WAIT_S):
        reject = await live_rig.platform.wait_for_request("reject", session_id)
    assert (reject.runtime, reject.body) == ("live", {"status_code": status})
    assert live_rig.platform.call(session_id).ended_by == "rejected"
    line = await live_rig.wait_log("call_rejected", call_id=session_id)
    assert (line["rejected"], line["sip_status"]) == (rejected, status)


async def test_live_capacity_rejects_with_486_on_the_live_path(
    live_rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """wonka-live allows 2 calls: a third, while two are live, is rejected busy (486)."""
    platform = live_rig.platform
    for session_id in ("live_c1", "live_c2"):
        assert await live_call(live_rig, session_id, WONKA) == {"ok": True, "accepted": session_id}
        await live_rig.wait_session(session_id)

    assert await live_call(live_rig, "live_c3", WONKA) == {"ok": True, "rejected": "capacity"}
    with trio.fail_after(WAIT_S):
        reject = await platform.wait_for_request("reject", "live_c3")
    assert (reject.runtime, reject.body) == ("live", {"status_code": 486})


async def test_draining_rejects_live_calls_with_503(
    live_rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """While draining, a Live call is rejected on the Live path with 503."""
    live_rig.supervisor.stop_admitting()
    assert await live_call(live_rig, "live_d1", WONKA) == {"ok": True, "rejected": "draining"}
    with trio.fail_after(WAIT_S):
        reject = await live_rig.platform.wait_for_request("reject", "live_d1")
    assert reject.body == {"status_code": 503}


async def test_a_live_webhook_delivered_twice_is_decided_once(
    live_rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """The same webhook-id, or the same session_id under a new one, answers duplicate: one accept."""
    event = live_incoming_event("live_dup", to=WONKA)
    first = await live_call(live_rig, "live_dup", WONKA, event=event, webhook_id="wh_dup")
    again = await live_call(live_rig, "live_dup", WONKA, event=event, webhook_id="wh_dup")
    other = await live_call(live_rig, "live_dup", WONKA, event=event, webhook_id="wh_dup_2")

    assert first == {"ok": True, "accepted": "live_dup"}
    assert again == other == {"ok": True, "duplicate": True}
    assert live_rig.actions("live_dup").count("accept") == 1


async def test_a_failed_live_accept_is_retried_by_redelivery(
    live_rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """A 5xx on the Live accept answers 503 and is forgotten: the redelivery is accepted."""
    live_rig.platform.fail("accept", call_id="live_f1", status=500)
    event = live_incoming_event("live_f1", to=WONKA)
    with trio.fail_after(WAIT_S):
        failed = await live_rig.live_call("live_f1", to=WONKA, event=event, webhook_id="wh_f1")
    assert failed.status_code == 503
    assert failed.json() == {"ok": False, "error": "call_accept_failed", "retry": True}
    assert await live_call(live_rig, "live_f1", WONKA, event=event, webhook_id="wh_f1") == {
        "ok": True, "accepted": "live_f1",
    }
