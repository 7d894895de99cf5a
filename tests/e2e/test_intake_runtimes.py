"""One SIP call, two webhooks: each tenant's calls are decided on its runtime's surface only.

The rig serves ``config/examples/tenants-live.yaml``: wonka-live (``runtime: live``) and
stark-realtime.  OpenAI may post ``realtime.call.incoming`` and ``live.transport.incoming`` for
the same SIP call, with different ids; the one of the runtime the tenant does not use is
acknowledged, logged and never sent to OpenAI (docs/decisions/0012-one-runtime-per-tenant.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

import config
from supervisor.testing import live_incoming_event, sip_call_pair
from tests.rig import UNROUTED, WAIT_S, Rig

LIVE_EXAMPLE = Path(config.__file__).parent / "examples" / "tenants-live.yaml"
WONKA = "sip:+18005550200@sip.example.com"
STARK = "sip:+18005550201@sip.example.com"


@pytest.fixture
def rig_env() -> dict[str, str]:
    return {"CALLVISOR_TENANTS_FILE": str(LIVE_EXAMPLE)}


async def test_realtime_webhook_of_a_live_tenant_is_ignored(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """realtime.call.incoming for a Live tenant: 200 ignored (tenant_runtime_live), nothing sent to OpenAI."""
    realtime, _live = sip_call_pair("rtc_w1", "live_w1", to=WONKA, sip_call_id="a84b4c76e66710@pbx")

    response = await rig.call("rtc_w1", event=realtime)

    assert response.status_code == 200
    assert response.json() == {
        "ok": True, "ignored": "realtime.call.incoming", "reason": "tenant_runtime_live",
    }
    line = await rig.wait_log("webhook_runtime_ignored", call_id="rtc_w1")
    assert (line["tenant_id"], line["runtime"], line["reason"]) == ("wonka-live", "realtime", "tenant_runtime_live")
    assert line["sip_call_id"] == "a84b4c76e66710@pbx"
    assert rig.actions("rtc_w1") == []
    assert rig.logs.events("call_rejected") == rig.logs.events("call_accepted") == []


@pytest.mark.parametrize("deprecated", [False, True])
async def test_live_webhook_of_a_realtime_tenant_is_ignored_and_its_pair_accepted(
    rig: Rig, mock_clock: trio.testing.MockClock, deprecated: bool
) -> None:
    """A Live webhook for a Realtime tenant is ignored (tenant_runtime_realtime); the Realtime one of the call is accepted."""
    realtime, live = sip_call_pair("rtc_s1", "live_s1", to=STARK)
    if deprecated:
        pbx_call_id = realtime["data"]["sip_headers"][2]["value"]
        live = live_incoming_event("live_s1", to=STARK, sip_call_id=pbx_call_id, deprecated=True)

    ignored = await rig.call("live_s1", event=live)
    accepted = await rig.call("rtc_s1", event=realtime)

    assert ignored.status_code == 200
    assert ignored.json() == {"ok": True, "ignored": live["type"], "reason": "tenant_runtime_realtime"}
    assert accepted.json() == {"ok": True, "accepted": "rtc_s1"}
    line = await rig.wait_log("webhook_runtime_ignored", call_id="live_s1")
    assert (line["tenant_id"], line["runtime"]) == ("stark-realtime", "live")
    assert rig.actions("live_s1") == []
    assert rig.actions("rtc_s1") == ["accept"]
    # The operator joins the two deliveries on the SIP Call-ID both lines carry.
    accepted_line = await rig.wait_log("call_accepted", call_id="rtc_s1")
    assert accepted_line["sip_call_id"] == line["sip_call_id"] == realtime["data"]["sip_headers"][2]["value"]


async def test_an_ignored_webhook_redelivered_is_a_duplicate(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """Ignoring is definitive: the same webhook-id, or the same session_id anew, answers duplicate."""
    event = live_incoming_event("live_s2", to=STARK)

    first = await rig.call("live_s2", event=event, webhook_id="wh_live_s2")
    again = await rig.call("live_s2", event=event, webhook_id="wh_live_s2")
    other_id = await rig.call("live_s2", event=event, webhook_id="wh_live_s2_b")

    assert first.json()["reason"] == "tenant_runtime_realtime"
    assert again.json() == other_id.json() == {"ok": True, "duplicate": True}
    assert [line["duplicate_of"] for line in rig.logs.events("duplicate_webhook_id")] == ["webhook_id", "call_id"]
    assert len(rig.logs.events("webhook_runtime_ignored")) == 1


async def test_a_number_no_tenant_owns_is_rejected_on_the_realtime_surface_only(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """Without a tenant the call is the default runtime's: Realtime rejects it (SIP 404), Live is ignored."""
    realtime, live = sip_call_pair("rtc_u1", "live_u1", to=UNROUTED)

    ignored = await rig.call("live_u1", event=live)
    rejected = await rig.call("rtc_u1", event=realtime)

    assert ignored.json() == {"ok": True, "ignored": "live.transport.incoming", "reason": "tenant_runtime_realtime"}
    assert rejected.json() == {"ok": True, "rejected": "tenant_resolution_failed"}
    assert rig.actions("live_u1") == []
    assert rig.actions("rtc_u1") == ["reject"]


@pytest.mark.parametrize("data", [{}, {"session_id": ""}, {"session_id": 7}, {"call_id": "rtc_x"}])
async def test_a_live_webhook_without_a_usable_session_id_is_400(
    rig: Rig, mock_clock: trio.testing.MockClock, data: dict[str, object]
) -> None:
    """The Live types take their id from data.session_id: without one, 400 missing_call_id."""
    event = live_incoming_event("live_bad", to=WONKA)
    event["data"] = {**{k: v for k, v in event["data"].items() if k != "session_id"}, **data}
    body, headers = rig.signed(event)

    response = await rig.post_raw(body, headers)

    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": "missing_call_id"}
    with trio.fail_after(WAIT_S):
        line = await rig.logs.wait_for("webhook_invalid")
    assert line["reason"] == "missing_call_id"
