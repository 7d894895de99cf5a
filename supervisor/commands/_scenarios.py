"""The demo's scenarios (private; see supervisor.commands.demo): one call each, and what it saw.

Each scenario places its call through :class:`Demo` (the shared driver of supervisor.testing)
and returns an :class:`Observed`: the HTTP answer, what the platform received, the log events,
and any way it differed from what was expected.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from attrs import define, field

from ..testing import Driver, WebhookSigner, incoming_call_event, new_secret

ACME = "sip:+18005551212@sip.example.com"
GLOBEX = "sip:+18005550100@sip.example.com"


@define
class Observed:
    """What one scenario saw, and whether it matched the expectation."""

    http: str = ""
    platform: str = ""
    log: str = ""
    problems: list[str] = field(factory=list)

    def check(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(problem)


class Demo(Driver):
    """The shared driver, and how the demo's table describes what happened."""

    def described(self, call_id: str) -> str:
        parts = []
        for request in self.platform.requests_for(call_id):
            detail = ""
            if request.action == "reject" and request.body:
                detail = f"({request.body.get('status_code')})"
            elif request.action == "accept" and request.body:
                detail = f"({len(_accepted_tools(request.body))} tools)"
            elif request.action == "refer" and request.body:
                detail = f"({request.body.get('target_uri')})"
            parts.append(f"{request.action}{detail}")
        return ", ".join(parts) or "nothing"

    def events(self, call_id: str | None, *names: str) -> str:
        lines = [
            line for line in self.logs.lines
            if line.get("call_id") == call_id and (not names or line.get("event") in names)
        ]
        shown = []
        for line in lines:
            reason = (line.get("error") or {}).get("reason") or line.get("reason")
            shown.append(f"{line['event']}({reason})" if reason else line["event"])
        return ", ".join(shown)


def _accepted_tools(body: dict[str, Any]) -> list[Any]:
    """The tools of an accept body: Realtime's ``tools``, or a Live session's delegation's."""
    if isinstance(body.get("session"), dict):
        delegation = body["session"].get("delegation") or {}
        return list((delegation.get("responses") or {}).get("tools", []))
    return list(body.get("tools", []))


def _http(response: httpx.Response) -> str:
    return f"{response.status_code} {json.dumps(response.json(), separators=(',', ':'))}"


Scenario = tuple[str, str, Callable[[Demo], Awaitable[Observed]]]


# -- intake ---------------------------------------------------------------------------------


async def healthy(demo: Demo) -> Observed:
    seen = Observed()
    response = await demo.call("rtc_demo_healthy")
    await demo.wait_session("rtc_demo_healthy")
    seen.http = _http(response)
    seen.check(response.json() == {"ok": True, "accepted": "rtc_demo_healthy"}, "not accepted")
    accept = demo.platform.requests_for("rtc_demo_healthy")[0]
    seen.check(accept.body is not None and len(accept.body.get("tools", [])) == 3, "tools missing")
    await demo.platform.call("rtc_demo_healthy").caller_hangup()
    await demo.logs.wait_for("call_ended", call_id="rtc_demo_healthy")
    seen.platform = demo.described("rtc_demo_healthy")
    seen.log = demo.events("rtc_demo_healthy", "call_accepted", "call_session_started", "call_ended")
    return seen


def rejection(call_id: str, to: str, reason: str, sip: int, event: str) -> Callable[[Demo], Awaitable[Observed]]:
    async def scenario(demo: Demo) -> Observed:
        seen = Observed()
        response = await demo.call(call_id, to=to)
        seen.http = _http(response)
        seen.check(response.json() == {"ok": True, "rejected": reason}, f"not rejected as {reason}")
        bodies = [r.body for r in demo.platform.requests_for(call_id) if r.action == "reject"]
        seen.check(bodies == [{"status_code": sip}], f"reject({sip}) not sent")
        seen.platform = demo.described(call_id)
        seen.log = demo.events(call_id, event, "call_rejected")
        seen.check(bool(demo.logs.events(event, call_id=call_id)), f"{event} not logged")
        return seen

    return scenario


async def tool_build_error(demo: Demo) -> Observed:
    seen = Observed()
    call_id = "rtc_demo_piedpiper"
    response = await demo.call(call_id, to="sip:+18005550104@sip.example.com")
    seen.http = _http(response)
    seen.check(response.json() == {"ok": True, "accepted": call_id}, "not accepted")
    accept = demo.platform.requests_for(call_id)[0]
    seen.check(accept.body is not None and "tools" not in accept.body, "accepted with tools")
    seen.check(bool(demo.logs.events("tool_build_error", call_id=call_id)), "tool_build_error not logged")
    await demo.wait_session(call_id)
    await demo.platform.call(call_id).caller_hangup()
    await demo.logs.wait_for("call_ended", call_id=call_id)
    seen.platform = demo.described(call_id)
    seen.log = demo.events(call_id, "tool_build_error", "call_accepted")
    return seen


async def bad_signature(demo: Demo) -> Observed:
    seen = Observed()
    body = json.dumps(incoming_call_event("rtc_demo_forged")).encode()
    forger = WebhookSigner(new_secret())
    headers = forger.sign(body, webhook_id="wh_demo_forged", timestamp=int(time.time()))
    response = await demo.http.post(f"{demo.info.public_url}/webhooks/openai", content=body, headers=headers)
    seen.http = _http(response)
    seen.check(response.status_code == 401, "not 401")
    seen.platform = demo.described("rtc_demo_forged")
    seen.check(seen.platform == "nothing", "the platform was called")
    failures = demo.logs.events("webhook_verification_failed")
    seen.check(bool(failures) and failures[-1].get("reason") == "bad_signature", "not logged")
    seen.log = "webhook_verification_failed(bad_signature)" if failures else ""
    return seen


async def duplicate(demo: Demo) -> Observed:
    seen = Observed()
    call_id = "rtc_demo_duplicate"
    first = await demo.call(call_id, webhook_id="wh_demo_duplicate")
    second = await demo.call(call_id, webhook_id="wh_demo_duplicate")
    seen.http = f"{_http(first)} then {_http(second)}"
    seen.check(second.json() == {"ok": True, "duplicate": True}, "second delivery not a duplicate")
    accepts = [r for r in demo.platform.requests_for(call_id) if r.action == "accept"]
    seen.check(len(accepts) == 1, "accepted twice")
    await demo.wait_session(call_id)
    await demo.platform.call(call_id).caller_hangup()
    await demo.logs.wait_for("call_ended", call_id=call_id)
    seen.platform = demo.described(call_id)
    seen.log = demo.events(call_id, "call_accepted", "duplicate_webhook_id")
    return seen


async def accept_500_redelivered(demo: Demo) -> Observed:
    seen = Observed()
    call_id = "rtc_demo_retry"
    demo.platform.fail("accept", call_id=call_id, status=500, times=1)
    first = await demo.call(call_id, webhook_id="wh_demo_retry")
    second = await demo.call(call_id, webhook_id="wh_demo_retry")
    seen.http = f"{_http(first)} then {_http(second)}"
    seen.check(first.status_code == 503, "first delivery not 503")
    seen.check(second.json() == {"ok": True, "accepted": call_id}, "redelivery not accepted")
    await demo.wait_session(call_id)
    await demo.platform.call(call_id).caller_hangup()
    await demo.logs.wait_for("call_ended", call_id=call_id)
    seen.platform = demo.described(call_id) + " (first accept answered 500)"
    seen.log = demo.events(call_id, "call_accept_failed", "call_accepted")
    return seen


# -- call lifecycle ---------------------------------------------------------------------------


async def capacity(demo: Demo) -> Observed:
    seen = Observed()
    first = await demo.call("rtc_demo_globex_1", to=GLOBEX)
    await demo.wait_session("rtc_demo_globex_1")
    second = await demo.call("rtc_demo_globex_2", to=GLOBEX)
    seen.http = f"{_http(first)} then {_http(second)}"
    seen.check(second.json() == {"ok": True, "rejected": "capacity"}, "second call not rejected")
    rejected = demo.logs.events("call_rejected", call_id="rtc_demo_globex_2")
    seen.check(bool(rejected) and rejected[0].get("reason") == "tenant_capacity", "reason not tenant_capacity")
    await demo.platform.call("rtc_demo_globex_1").caller_hangup()
    await demo.logs.wait_for("call_ended", call_id="rtc_demo_globex_1")
    seen.platform = f"1: {demo.described('rtc_demo_globex_1')}; 2: {demo.described('rtc_demo_globex_2')}"
    seen.log = demo.events("rtc_demo_globex_2", "call_rejected")
    return seen


def tool_error(call_id: str, name: str, arguments: str, reason: str) -> Callable[[Demo], Awaitable[Observed]]:
    async def scenario(demo: Demo) -> Observed:
        seen = Observed()
        response = await demo.call(call_id)
        seen.http = _http(response)
        await demo.wait_session(call_id)
        call = demo.platform.call(call_id)
        tool_call_id = await call.function_call(name, arguments)
        output = await call.wait_tool_output(tool_call_id)
        result = json.loads(output["item"]["output"])
        seen.check(result.get("ok") is False and result.get("error") == reason, f"model not told {reason}")
        failure = await demo.logs.wait_for("tool_execution_failed", call_id=call_id)
        seen.check(failure["error"]["reason"] == reason, "wrong reason logged")
        await call.wait_for_client_event("response.create", nth=2)
        seen.check(call.live_connections == 1, "the call did not continue")
        await call.caller_hangup()
        await demo.logs.wait_for("call_ended", call_id=call_id)
        seen.platform = f"{demo.described(call_id)}; model got error {reason}"
        seen.log = demo.events(call_id, "tool_execution_failed", "call_ended")
        return seen

    return scenario


async def working_tool(demo: Demo) -> Observed:
    seen = Observed()
    call_id = "rtc_demo_tool_ok"
    seen.http = _http(await demo.call(call_id))
    await demo.wait_session(call_id)
    call = demo.platform.call(call_id)
    output = await call.wait_tool_output(await call.function_call("lookup_order", '{"order_id": "A1"}'))
    result = json.loads(output["item"]["output"])
    seen.check(result == {"ok": True, "result": {"order_id": "A1", "status": "shipped"}}, "wrong result")
    await call.caller_hangup()
    await demo.logs.wait_for("call_ended", call_id=call_id)
    seen.platform = f"{demo.described(call_id)}; model got the order"
    seen.log = demo.events(call_id, "call_ended")
    return seen


async def end_call(demo: Demo) -> Observed:
    seen = Observed()
    call_id = "rtc_demo_end_call"
    seen.http = _http(await demo.call(call_id))
    await demo.wait_session(call_id)
    await demo.platform.call(call_id).function_call("end_call", '{"reason": "caller is done"}')
    ended = await demo.logs.wait_for("call_ended", call_id=call_id)
    seen.check(ended.get("reason") == "end_call", "not ended by end_call")
    seen.check(demo.described(call_id).endswith("hangup"), "no hangup")
    seen.platform = demo.described(call_id)
    seen.log = f"call_ended({ended.get('reason')})"
    return seen


async def transfer(demo: Demo) -> Observed:
    seen = Observed()
    call_id = "rtc_demo_transfer"
    seen.http = _http(await demo.call(call_id))
    await demo.wait_session(call_id)
    await demo.platform.call(call_id).function_call("transfer_call", "{}")
    ended = await demo.logs.wait_for("call_ended", call_id=call_id)
    seen.check(ended.get("reason") == "transferred", "not transferred")
    seen.check("refer(tel:+14155550123)" in demo.described(call_id), "no refer")
    seen.platform = demo.described(call_id)
    seen.log = demo.events(call_id, "call_transfer_requested", "call_ended")
    return seen


async def caller_hangup(demo: Demo) -> Observed:
    seen = Observed()
    call_id = "rtc_demo_hangup"
    seen.http = _http(await demo.call(call_id))
    await demo.wait_session(call_id)
    await demo.platform.call(call_id).abort()
    ended = await demo.logs.wait_for("call_ended", call_id=call_id)
    seen.check(ended.get("reason") == "caller_hangup", "not caller_hangup")
    seen.platform = demo.described(call_id) + " (sideband dropped without a close frame)"
    seen.log = f"call_ended({ended.get('reason')}, close_code={ended.get('close_code')})"
    return seen


async def session_never_starts(demo: Demo) -> Observed:
    seen = Observed()
    call_id = "rtc_demo_no_session"
    demo.platform.fail_connect(call_id=call_id, times=100)
    seen.http = _http(await demo.call(call_id))
    ended = await demo.logs.wait_for("call_ended", call_id=call_id)
    seen.check(ended.get("reason") == "session_start_failed", "wrong end reason")
    seen.check(bool(demo.logs.events("call_session_start_failed", call_id=call_id)), "not logged")
    seen.check(demo.described(call_id).endswith("hangup"), "not hung up")
    seen.platform = demo.described(call_id)
    seen.log = demo.events(call_id, "call_session_start_failed", "call_ended")
    return seen


async def operator_hangup(demo: Demo) -> Observed:
    seen = Observed()
    call_id = "rtc_demo_operator"
    seen.http = _http(await demo.call(call_id))
    await demo.wait_session(call_id)
    response = await demo.http.post(f"{demo.info.admin_url}/actors/{call_id}/hangup")
    seen.check(response.status_code == 202, "hangup not accepted by the operator port")
    ended = await demo.logs.wait_for("call_ended", call_id=call_id)
    seen.check(ended.get("reason") == "operator_hangup", "wrong end reason")
    seen.platform = demo.described(call_id)
    seen.log = demo.events(call_id, "operator_hangup", "call_ended")
    return seen


SCENARIOS: list[Scenario] = [
    ("healthy tenant (acme-corp)", "200 accepted, greeting sent", healthy),
    ("unknown number", "rejected tenant_resolution_failed, SIP 404",
     rejection("rtc_demo_unknown", "sip:+18005550199@sip.example.com", "tenant_resolution_failed", 404, "tenant_resolution_failed")),
    ("no state document (initech)", "rejected tenant_not_configured, SIP 480",
     rejection("rtc_demo_initech", "sip:+18005550101@sip.example.com", "tenant_not_configured", 480, "tenant_not_configured")),
    ("empty greeting (umbrella)", "rejected instructions_missing, SIP 480",
     rejection("rtc_demo_umbrella", "sip:+18005550102@sip.example.com", "instructions_missing", 480, "instructions_missing")),
    ("invalid config (hooli)", "rejected tenant_config_parse_error, SIP 480",
     rejection("rtc_demo_hooli", "sip:+18005550103@sip.example.com", "tenant_config_parse_error", 480, "tenant_config_parse_error")),
    ("invalid tool config (piedpiper)", "accepted without tools", tool_build_error),
    ("bad signature", "401, OpenAI not called", bad_signature),
    ("duplicate delivery", "second is a duplicate, one accept", duplicate),
    ("accept 500, redelivered", "503, then accepted", accept_500_redelivered),
    ("globex over capacity", "second call rejected capacity, SIP 486", capacity),
    ("tool: unknown name", "model told tool_not_found, call continues",
     tool_error("rtc_demo_tool_unknown", "nonexistent_tool", "{}", "tool_not_found")),
    ("tool: bad JSON arguments", "model told tool_args_invalid, call continues",
     tool_error("rtc_demo_tool_args", "lookup_order", "{not json", "tool_args_invalid")),
    ("tool: endpoint fails", "model told tool_http_error, call continues",
     tool_error("rtc_demo_tool_fail", "lookup_order", '{"order_id": "FAIL"}', "tool_http_error")),
    ("tool: works", "model gets the order", working_tool),
    ("end_call tool", "goodbye, then hangup", end_call),
    ("transfer", "refer, session closes, ended transferred", transfer),
    ("caller hangs up", "call_ended caller_hangup", caller_hangup),
    ("session never starts", "call_session_start_failed, hangup", session_never_starts),
    ("operator hangup", "202, hangup, call_ended operator_hangup", operator_hangup),
]
