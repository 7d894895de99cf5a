"""Intake decisions per tenant of config/examples/tenants.yaml, end to end over loopback.

Each test places one signed ``realtime.call.incoming`` and checks what an operator sees: the
HTTP answer OpenAI gets, the call-control request the (simulated) platform received, and the
JSON log line of the troubleshooting guide's event.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
import yaml

from supervisor.testing import EXAMPLE_TENANTS
from tests.rig import ACME, HOOLI, INITECH, PIEDPIPER, UMBRELLA, UNROUTED, WAIT_S, Rig


def example_tenant(tenant_id: str) -> dict[str, Any]:
    """The raw entry of ``tenant_id`` in the example tenants file."""
    document = yaml.safe_load(EXAMPLE_TENANTS.read_text(encoding="utf-8"))
    (entry,) = [t for t in document["tenants"] if t["id"] == tenant_id]
    return dict(entry)


async def rejected_with(rig: Rig, call_id: str, to: str) -> dict[str, Any]:
    """Place a call that must be rejected; return the body of the reject request."""
    response = await rig.call(call_id, to=to)
    assert response.status_code == 200
    with trio.fail_after(WAIT_S):
        reject = await rig.platform.wait_for_request("reject", call_id)
    assert rig.actions(call_id) == ["reject"]
    assert reject.body is not None
    return {"response": response.json(), "reject": reject.body}


async def test_healthy_tenant_is_accepted_with_its_session(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """acme-corp's call is accepted with its model, instructions, voice and 3 function tools."""
    acme = example_tenant("acme-corp")

    response = await rig.call("rtc_acme", to=ACME)

    assert response.status_code == 200
    assert response.json() == {"ok": True, "accepted": "rtc_acme"}
    accept = await rig.platform.wait_for_request("accept", "rtc_acme")
    body = accept.body
    assert body is not None
    assert body["type"] == "realtime"
    assert body["model"] == acme["config"]["model"] == "gpt-realtime"
    assert body["instructions"] == acme["prompts"]["instructions"]["inst_main"]
    assert body["audio"] == {"output": {"voice": "marin"}}  # no audio format: SIP negotiates it
    tools = body["tools"]
    assert [tool["type"] for tool in tools] == ["function"] * 3
    assert [tool["name"] for tool in tools] == ["end_call", "transfer_call", "lookup_order"]
    lookup = tools[2]
    assert lookup["parameters"] == acme["config"]["tools"][2]["parameters"]
    assert lookup["description"] == acme["config"]["tools"][2]["description"]
    assert all(isinstance(tool["description"], str) and tool["description"] for tool in tools)

    accepted = await rig.wait_log("call_accepted", call_id="rtc_acme")
    assert accepted["level"] == "INFO"
    assert accepted["tenant_id"] == "acme-corp"
    assert accepted["tools"] == ["end_call", "transfer_call", "lookup_order"]
    assert accepted["fallback"] is False
    assert rig.logs.events("tool_build_error") == []
    await rig.wait_session("rtc_acme")


async def test_unrouted_number_is_rejected_404(rig: Rig, mock_clock: trio.testing.MockClock) -> None:
    """+18005550199 routes nowhere: rejected tenant_resolution_failed, SIP 404, ERROR logged."""
    seen = await rejected_with(rig, "rtc_unrouted", UNROUTED)

    assert seen["response"] == {"ok": True, "rejected": "tenant_resolution_failed"}
    assert seen["reject"] == {"status_code": 404}
    line = await rig.wait_log("tenant_resolution_failed", call_id="rtc_unrouted")
    assert line["level"] == "ERROR"
    assert line["tenant_id"] is None
    assert line["error"]["error_type"] == "TenantResolutionError"
    assert line["error"]["reason"] == "number_not_routed"
    assert line["error"]["tenant_id"] is None
    assert line["error"]["context"] == {"number": "+18005550199"}
    rejected = await rig.wait_log("call_rejected", call_id="rtc_unrouted")
    assert (rejected["rejected"], rejected["reason"], rejected["sip_status"]) == (
        "tenant_resolution_failed",
        "number_not_routed",
        404,
    )


async def test_tenant_without_state_document_is_rejected_480(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """initech has no state document: rejected tenant_not_configured (state_doc_missing), SIP 480."""
    seen = await rejected_with(rig, "rtc_initech", INITECH)

    assert seen["response"] == {"ok": True, "rejected": "tenant_not_configured"}
    assert seen["reject"] == {"status_code": 480}
    line = await rig.wait_log("tenant_not_configured", call_id="rtc_initech")
    assert line["level"] == "ERROR"
    assert line["tenant_id"] == "initech"
    assert line["error"]["error_type"] == "TenantNotConfiguredError"
    assert line["error"]["reason"] == "state_doc_missing"
    assert line["error"]["tenant_id"] == "initech"
    rejected = await rig.wait_log("call_rejected", call_id="rtc_initech")
    assert rejected["tenant_id"] == "initech"
    assert rejected["sip_status"] == 480


async def test_empty_greeting_is_rejected_instructions_missing(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """umbrella's greeting is empty: rejected instructions_missing (greeting_text_empty), SIP 480."""
    seen = await rejected_with(rig, "rtc_umbrella", UMBRELLA)

    assert seen["response"] == {"ok": True, "rejected": "instructions_missing"}
    assert seen["reject"] == {"status_code": 480}
    line = await rig.wait_log("instructions_missing", call_id="rtc_umbrella")
    assert line["level"] == "ERROR"
    assert line["tenant_id"] == "umbrella"
    assert line["error"]["error_type"] == "InstructionsMissingError"
    assert line["error"]["reason"] == "greeting_text_empty"
    assert line["error"]["context"] == {"greeting_id": "greeting_main", "instruction_id": "inst_main"}


async def test_invalid_config_is_rejected_with_error_paths(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """hooli's config fails validation: rejected tenant_config_parse_error, errors name their paths."""
    seen = await rejected_with(rig, "rtc_hooli", HOOLI)

    assert seen["response"] == {"ok": True, "rejected": "tenant_config_parse_error"}
    assert seen["reject"] == {"status_code": 480}
    line = await rig.wait_log("tenant_config_parse_error", call_id="rtc_hooli")
    assert line["level"] == "ERROR"
    assert line["tenant_id"] == "hooli"
    assert line["error"]["error_type"] == "TenantConfigParseError"
    assert line["error"]["reason"] == "config_invalid"
    errors = line["error"]["context"]["errors"]
    assert isinstance(errors, list)
    assert sorted(error.rpartition(" @ ")[2] for error in errors) == [
        "config",
        "config.limits.max_concurrent_calls",
    ]
    assert any("colour" in error for error in errors)


async def test_invalid_tool_call_is_accepted_without_tools(
    rig: Rig, mock_clock: trio.testing.MockClock
) -> None:
    """piedpiper's ftp:// tool: the call is accepted without any tool and tool_build_error logged."""
    response = await rig.call("rtc_piedpiper", to=PIEDPIPER)

    assert response.status_code == 200
    assert response.json() == {"ok": True, "accepted": "rtc_piedpiper"}
    accept = await rig.platform.wait_for_request("accept", "rtc_piedpiper")
    assert accept.body is not None
    assert not accept.body.get("tools")
    assert accept.body["instructions"] == example_tenant("piedpiper")["prompts"]["instructions"]["inst_main"]
    line = await rig.wait_log("tool_build_error", call_id="rtc_piedpiper")
    assert line["level"] == "ERROR"
    assert line["tenant_id"] == "piedpiper"
    assert line["error"]["error_type"] == "ToolBuildError"
    assert line["error"]["reason"] == "tool_config_invalid"
    (error,) = line["error"]["context"]["errors"]
    assert error.endswith(" @ config.tools[1].url")
    assert "ftp" in error
    accepted = await rig.wait_log("call_accepted", call_id="rtc_piedpiper")
    assert accepted["tools"] == []
    await rig.wait_session("rtc_piedpiper")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        pytest.param([{"name": "To", "value": "sip:alice@host.example"}], "to_header_invalid", id="sip-user-not-a-number"),
        pytest.param([{"name": "From", "value": ACME}], "to_header_missing", id="no-to-header"),
        pytest.param([{"name": "To", "value": "sip:+" + "1" * 10_240 + "@x"}], "to_header_invalid", id="10kb-to"),
        pytest.param([{"name": "To", "value": 18005551212}], "to_header_invalid", id="to-value-int"),
        pytest.param([{"name": "To", "value": None}], "to_header_invalid", id="to-value-null"),
        pytest.param([{"name": "To", "value": [ACME]}], "to_header_invalid", id="to-value-list"),
        pytest.param([{"name": 7, "value": ACME}], "to_header_missing", id="name-int"),
        pytest.param(["To", None, 3, [ACME]], "to_header_missing", id="entries-not-objects"),
        pytest.param("To: " + ACME, "to_header_missing", id="sip-headers-string"),
        pytest.param({"To": ACME}, "to_header_missing", id="sip-headers-object"),
        pytest.param(None, "to_header_missing", id="sip-headers-null"),
        pytest.param([{"name": "To", "value": "<sip:+18005551212@x"}], "to_header_invalid", id="unclosed-angle"),
        pytest.param([{"name": "To", "value": "tel:+1800\u0000555"}], "to_header_invalid", id="nul-in-number"),
    ],
)
async def test_unusable_sip_headers_are_rejected_as_resolution_failures(
    rig: Rig, mock_clock: trio.testing.MockClock, headers: object, reason: str
) -> None:
    """A To header that is missing, garbage or not a string is rejected tenant_resolution_failed."""
    event = {
        "object": "event",
        "id": "evt_garbage",
        "type": "realtime.call.incoming",
        "created_at": 1_750_000_000,
        "data": {"call_id": "rtc_garbage", "sip_headers": headers},
    }
    rig.platform.expect_call("rtc_garbage")
    body, signed = rig.signed(event, webhook_id="wh_garbage")

    response = await rig.post_raw(body, signed)

    assert response.status_code == 200
    assert response.json() == {"ok": True, "rejected": "tenant_resolution_failed"}
    reject = await rig.platform.wait_for_request("reject", "rtc_garbage")
    assert reject.body == {"status_code": 404}
    line = await rig.wait_log("tenant_resolution_failed", call_id="rtc_garbage")
    assert line["level"] == "ERROR"
    assert line["tenant_id"] is None
    assert line["error"]["reason"] == reason
    if reason == "to_header_invalid":
        excerpt = line["error"]["context"]["to"]
        assert isinstance(excerpt, str)
        assert len(excerpt) <= 64
