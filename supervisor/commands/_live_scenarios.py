"""The demo's GPT-Live scenarios (private; see supervisor.commands.demo): wonka-live beside acme-corp.

The demo's tenants are config/examples/tenants.yaml plus the GPT-Live tenant of
config/examples/tenants-live.yaml (:func:`demo_tenants`); these scenarios place Live calls
(``live.transport.incoming``) on it and check what they did on the Live surface: the attach,
the commentary greeting, the Responses delegation's tools, ``session.closed``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

from ..testing import EXAMPLE_TENANTS, live_incoming_event, sip_call_pair
from ._scenarios import Demo, Observed, Scenario, _http

WONKA = "sip:+18005550200@sip.example.com"
#: The example file the Live tenant comes from, beside ``EXAMPLE_TENANTS``.
LIVE_EXAMPLE = Path(EXAMPLE_TENANTS).with_name("tenants-live.yaml")
LIVE_TENANT = "wonka-live"


def demo_tenants(path: Path) -> Path:
    """Write the demo's tenants file to ``path``: the Realtime examples and ``wonka-live``."""
    document = yaml.safe_load(Path(EXAMPLE_TENANTS).read_text(encoding="utf-8"))
    live = yaml.safe_load(LIVE_EXAMPLE.read_text(encoding="utf-8"))
    document["tenants"] += [tenant for tenant in live["tenants"] if tenant["id"] == LIVE_TENANT]
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


async def _live_call(demo: Demo, session_id: str, seen: Observed, event: dict[str, Any] | None = None) -> Any:
    """Place a Live call on wonka-live; once accepted and attached, its platform session."""
    response = await demo.live_call(session_id, to=WONKA, event=event)
    seen.http = _http(response)
    seen.check(response.json() == {"ok": True, "accepted": session_id}, "not accepted")
    await demo.wait_session(session_id)
    return demo.platform.live_session(session_id)


async def live_healthy(demo: Demo) -> Observed:
    seen = Observed()
    session = await _live_call(demo, "live_demo_healthy", seen)
    greeting = await session.wait_for_client_event("session.commentary.append")
    seen.check("Wonka's sweet shop" in greeting.get("content", ""), "not greeted")
    seen.check(session.attach_paths == ["/v1/live/sessions/live_demo_healthy/attach"], "attached elsewhere")
    await session.caller_hangup()
    ended = await demo.logs.wait_for("call_ended", call_id="live_demo_healthy")
    seen.check(ended.get("closed_reason") == "remote_hangup", "not ended by session.closed")
    seen.platform = f"{demo.described('live_demo_healthy')}; attach, commentary greeting"
    seen.log = (
        f"{demo.events('live_demo_healthy', 'call_accepted', 'call_session_started')}, "
        f"call_ended({ended.get('reason')}, session.closed {ended.get('closed_reason')})"
    )
    return seen


async def both_webhooks(demo: Demo) -> Observed:
    """One SIP call posted on both surfaces: the Realtime one is acknowledged, not accepted."""
    seen = Observed()
    realtime, live = sip_call_pair("rtc_demo_pair", "live_demo_pair", to=WONKA)
    first = await demo.call("rtc_demo_pair", event=realtime)
    seen.check(first.json().get("ignored") == "realtime.call.incoming", "realtime webhook not ignored")
    session = await _live_call(demo, "live_demo_pair", seen, event=live)
    seen.http = f"{_http(first)} then {seen.http}"
    seen.check(demo.platform.actions("rtc_demo_pair") == [], "realtime surface called")
    await session.caller_hangup()
    await demo.logs.wait_for("call_ended", call_id="live_demo_pair")
    seen.platform = f"rtc: {demo.described('rtc_demo_pair')}; live: {demo.described('live_demo_pair')}"
    seen.log = "webhook_runtime_ignored(tenant_runtime_live), " + demo.events("live_demo_pair", "call_accepted")
    return seen


def live_tool(session_id: str, name: str, expect_end: str) -> Callable[[Demo], Awaitable[Observed]]:
    """The Responses backend calls ``name``; the call ends as ``expect_end`` after the goodbye."""

    async def scenario(demo: Demo) -> Observed:
        seen = Observed()
        session = await _live_call(demo, session_id, seen)
        tool_call_id = await session.function_call(name, "{}")
        output = await session.wait_tool_output(tool_call_id)
        seen.check(json.loads(output["item"]["output"]).get("ok") is True, "no output")
        ended = await demo.logs.wait_for("call_ended", call_id=session_id)
        seen.check(ended.get("reason") == expect_end, f"not ended {expect_end}")
        seen.platform = f"{demo.described(session_id)}; response.item.create + response.create"
        seen.log = demo.events(session_id, "call_transfer_requested", "call_ended")
        return seen

    return scenario


async def live_session_expired(demo: Demo) -> Observed:
    seen = Observed()
    session = await _live_call(demo, "live_demo_expired", seen)
    await session.close("expired")
    ended = await demo.logs.wait_for("call_ended", call_id="live_demo_expired")
    seen.check(ended.get("reason") == "session_expired", "not session_expired")
    seen.check(demo.platform.actions("live_demo_expired") == ["accept"], "hung up after session.closed")
    seen.platform = demo.described("live_demo_expired")
    seen.log = f"call_ended({ended.get('reason')}, session.closed {ended.get('closed_reason')})"
    return seen


async def live_sideband_lost(demo: Demo) -> Observed:
    seen = Observed()
    session = await _live_call(demo, "live_demo_lost", seen)
    await session.abort()
    await demo.logs.wait_for("live_sideband_lost", call_id="live_demo_lost")
    await session.wait_connected()
    seen.check(len(session.attach_paths) == 2, "not attached again")
    await session.caller_hangup()
    ended = await demo.logs.wait_for("call_ended", call_id="live_demo_lost")
    seen.check(ended.get("reattached") is True, "not reattached")
    seen.platform = f"{demo.described('live_demo_lost')}; attach, TCP dropped, attach"
    seen.log = f"live_sideband_lost, call_ended({ended.get('reason')}, reattached)"
    return seen


async def live_unknown_number(demo: Demo) -> Observed:
    """A Live webhook for a number no tenant owns: the default runtime's to answer (Realtime)."""
    seen = Observed()
    event = live_incoming_event("live_demo_unknown", to="sip:+18005550199@sip.example.com")
    response = await demo.live_call("live_demo_unknown", event=event)
    seen.http = _http(response)
    seen.check(response.json().get("ignored") == "live.transport.incoming", "not ignored")
    seen.platform = demo.described("live_demo_unknown")
    seen.check(seen.platform == "nothing", "the platform was called")
    seen.log = demo.events("live_demo_unknown", "webhook_runtime_ignored")
    return seen


LIVE_SCENARIOS: list[Scenario] = [
    ("GPT-Live tenant (wonka-live)", "accepted on /live, attach, greeting; session.closed ends it", live_healthy),
    ("one SIP call, both webhooks", "realtime one ignored, live one accepted", both_webhooks),
    ("GPT-Live end_call", "goodbye heard, then hangup on /live", live_tool("live_demo_end", "end_call", "end_call")),
    ("GPT-Live transfer", "refer on /live, ended transferred", live_tool("live_demo_transfer", "transfer_call", "transferred")),
    ("GPT-Live session expired", "session.closed expired, no hangup", live_session_expired),
    ("GPT-Live sideband dropped", "attached again, call goes on", live_sideband_lost),
    ("GPT-Live unknown number", "acknowledged, ignored (no tenant: Realtime's)", live_unknown_number),
]
