"""The operator port: the live actor tree, per-call views, the admin token, and /metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from config.errors import SettingsError
from config.settings import Settings
from supervisor.testing import EXAMPLE_TENANTS

if TYPE_CHECKING:
    from tests.lifecycle.conftest import Driver, ToolEndpoint

TOKEN = "operator-token-0123456789"
ACME_MAX_CALL_DURATION_S = 1800
#: The sideband's one task: trio-websocket's reader, in the call's nursery beside the tool runs.
READER_TASK = "trio_websocket._impl.WebSocketConnection._reader_task"


def _task_names(tasks: list[dict[str, Any]]) -> list[str]:
    """Every task name in a ``tasks`` tree, depth first."""
    names = []
    for task in tasks:
        names.append(task["task"])
        names.extend(_task_names(task["children"]))
    return names


async def test_actors_shows_the_supervisor_and_a_call_running_a_tool(
    tool_driver: Driver, tool_endpoint: ToolEndpoint, mock_clock: trio.testing.MockClock
) -> None:
    """GET /actors: supervisor fields, the live call with its counters, and a tool:... task while a tool runs."""
    tool_endpoint.hold = trio.Event()
    call = await tool_driver.start("rtc_tree")
    tool_call_id = await tool_driver.function_call(call, "lookup_order", '{"order_number": "A1"}')
    await tool_endpoint.wait_request()

    tree = await tool_driver.actors()
    assert tree["replica_id"] == "replica-test"
    assert tree["uptime_s"] >= 0
    assert tree["draining"] is False
    assert tree["capacity"] == {"used": 1, "limit": 100, "by_tenant": {"acme-corp": 1}}
    [view] = tree["calls"]
    assert view["call_id"] == "rtc_tree"
    assert view["tenant_id"] == "acme-corp"
    assert view["state"] == "live"
    assert view["age_s"] >= 0
    assert 0 < view["deadline_in_s"] <= ACME_MAX_CALL_DURATION_S
    assert view["end_reason"] is None
    assert view["session"]["tool_calls"] == 1
    assert view["session"]["events_sent"] >= 1  # the greeting
    assert view["session"]["events_received"] >= 1
    assert view["tools_running"] == ["lookup_order"]
    assert [task["task"] for task in view["tasks"]] == [f"tool:lookup_order:{tool_call_id}", READER_TASK]

    one = await tool_driver.admin("GET", "/actors/rtc_tree")
    assert one.status_code == 200
    assert one.json()["call_id"] == "rtc_tree"
    assert one.json()["tools_running"] == ["lookup_order"]
    assert f"tool:lookup_order:{tool_call_id}" in _task_names(one.json()["tasks"])

    tool_endpoint.hold.set()
    await tool_driver.tool_output(call, tool_call_id)
    after = (await tool_driver.admin("GET", "/actors/rtc_tree")).json()
    assert after["tools_running"] == []
    assert _task_names(after["tasks"]) == [READER_TASK]
    await tool_driver.caller_hangup(call)
    await tool_driver.assert_no_leaks()


@pytest.mark.parametrize(
    "call_id",
    ["rtc_nobody", "x" * 5000, "..", "%00", "rtc%20space", "\u00e9t\u00e9", "rtc_live%3Bdrop", "*"],
    ids=["unknown", "5000_chars", "dotdot", "nul", "space", "non_ascii", "semicolon", "star"],
)
async def test_hangup_of_an_odd_call_id_is_a_clean_404(
    driver: Driver, call_id: str, mock_clock: trio.testing.MockClock
) -> None:
    """POST /actors/{odd id}/hangup: 404 JSON, no hangup sent to OpenAI, the live call untouched."""
    await driver.start("rtc_live")
    response = await driver.admin("POST", f"/actors/{call_id}/hangup")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["ok"] is False
    assert driver.platform.actions("rtc_live") == ["accept"]
    assert driver.logs.events("operator_hangup") == []
    await driver.caller_hangup(driver.platform.call("rtc_live"))
    await driver.assert_no_leaks()


@pytest.mark.parametrize(("method", "path", "allow"), [("POST", "/metrics", "GET, HEAD"), ("GET", "/drain", "POST")])
async def test_a_wrong_method_on_the_operator_port_is_json_405(
    driver: Driver, method: str, path: str, allow: str, mock_clock: trio.testing.MockClock
) -> None:
    """A route asked with another method: 405 JSON with Allow, never Quart's HTML page."""
    response = await driver.admin(method, path)
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/json"
    assert response.headers["allow"] == allow
    assert response.json() == {"ok": False, "error": "method_not_allowed"}


@pytest.mark.parametrize("path", ["/actors/rtc_live%2Fhangup", "/actors/rtc_live%2fhangup"])
async def test_an_encoded_slash_does_not_route_as_a_hangup(
    driver: Driver, path: str, mock_clock: trio.testing.MockClock
) -> None:
    """POST /actors/ID%2Fhangup names no route (routing would see it decoded): 404, and the call lives on."""
    await driver.start("rtc_live")
    response = await driver.admin("POST", path)
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "not_found"}
    assert driver.logs.events("operator_hangup") == []
    assert [call["call_id"] for call in (await driver.actors())["calls"]] == ["rtc_live"]
    await driver.caller_hangup(driver.platform.call("rtc_live"))
    await driver.assert_no_leaks()


async def test_unknown_call_and_route_are_404(driver: Driver, mock_clock: trio.testing.MockClock) -> None:
    """GET /actors/{unknown} answers 404 call_not_found; an unknown route 404 not_found."""
    response = await driver.admin("GET", "/actors/rtc_nobody")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "call_not_found"}
    response = await driver.admin("GET", "/no-such-route")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "not_found"}
    tree = await driver.actors()
    assert tree["calls"] == []
    assert tree["capacity"]["used"] == 0


ROUTES = [
    ("GET", "/actors"),
    ("GET", "/actors/rtc_nobody"),
    ("POST", "/actors/rtc_nobody/hangup"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("POST", "/drain"),
]


@pytest.mark.parametrize("rig_env", [{"ADMIN_TOKEN": TOKEN}], ids=["admin_token"])
async def test_admin_token_guards_every_route(driver: Driver, mock_clock: trio.testing.MockClock) -> None:
    """With ADMIN_TOKEN set every operator route answers 401 without the right bearer token, and works with it."""
    bad_headers: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": TOKEN},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Token {TOKEN}"},
        {"Authorization": f"Bearer  {TOKEN}"},
        {"X-Admin-Token": TOKEN},
    ]
    in_query = [{"token": TOKEN}, {"access_token": TOKEN}, {"authorization": f"Bearer {TOKEN}"}]
    for method, path in ROUTES:
        for headers in bad_headers:
            response = await driver.admin(method, path, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.json() == {"ok": False, "error": "unauthorized"}
        for params in in_query:  # a token in a URL ends up in logs and histories: never honoured
            response = await driver.admin(method, path, params=params)
            assert response.status_code == 401, (method, path, params)
    refused = driver.logs.events("admin_unauthorized")
    assert len(refused) == len(ROUTES) * (len(bad_headers) + len(in_query))
    assert {line["level"] for line in refused} == {"WARNING"}
    assert {line["path"] for line in refused} == {path for _, path in ROUTES}
    assert TOKEN not in str(driver.logs.lines)
    # The refused drain did nothing.
    assert driver.rig.supervisor.draining is False
    assert driver.logs.events("drain_started") == []

    # The public port needs no operator token.
    assert (await driver.public("GET", "/health")).status_code == 200

    good = {"Authorization": f"Bearer {TOKEN}"}
    expected = {
        ("GET", "/actors"): 200,
        ("GET", "/actors/rtc_nobody"): 404,
        ("POST", "/actors/rtc_nobody/hangup"): 404,
        ("GET", "/ready"): 200,
        ("GET", "/metrics"): 200,
        ("POST", "/drain"): 202,  # last: it starts the drain
    }
    for method, path in ROUTES:
        response = await driver.admin(method, path, headers=good)
        assert response.status_code == expected[(method, path)], (method, path)
    assert len(driver.logs.events("admin_unauthorized")) == len(ROUTES) * (len(bad_headers) + len(in_query))
    await driver.log("drain_started")


def _minimal_env(**extra: str) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_WEBHOOK_SECRET": "whsec_" + "A" * 44,
        "CALLVISOR_TENANTS_FILE": str(EXAMPLE_TENANTS),
        **extra,
    }


def test_settings_refuse_a_public_operator_port_without_token() -> None:
    """CALLVISOR_ADMIN on a non-loopback address without ADMIN_TOKEN is refused at start-up."""
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(_minimal_env(CALLVISOR_ADMIN="0.0.0.0:0"))
    assert any(problem.startswith("CALLVISOR_ADMIN") for problem in raised.value.problems)
    assert "CALLVISOR_ADMIN" in str(raised.value)

    settings = Settings.from_env(_minimal_env(CALLVISOR_ADMIN="0.0.0.0:0", ADMIN_TOKEN=TOKEN))
    assert settings.admin_bind.host == "0.0.0.0"
    assert settings.admin_token == TOKEN
    assert Settings.from_env(_minimal_env(CALLVISOR_ADMIN="127.0.0.1:0")).admin_token is None


async def test_metrics_after_a_call_with_a_tool_run(
    tool_driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """/metrics counts the accepted call, the webhook, the intake time, the tool run and the end."""
    samples = await tool_driver.metrics()
    assert samples.value("fallback_instructions_used_total") == 0
    assert samples.value("callvisor_webhooks_total", result="accepted") == 0
    assert samples.value("callvisor_intake_seconds_count") == 0

    call = await tool_driver.start("rtc_metrics")
    tool_call_id = await tool_driver.function_call(call, "lookup_order", '{"order_number": "A1"}')
    await tool_driver.tool_output(call, tool_call_id)
    await tool_driver.caller_hangup(call)
    await tool_driver.assert_no_leaks()

    samples = await tool_driver.metrics()
    assert samples.value("callvisor_calls_total", outcome="accepted", reason="") == 1
    assert samples.value("callvisor_calls_total", outcome="ended", reason="caller_hangup") == 1
    assert samples.value("callvisor_webhooks_total", result="accepted") == 1
    assert samples.value("callvisor_webhooks_total", result="rejected") == 0
    assert samples.value("fallback_instructions_used_total") == 0
    assert samples.value("callvisor_tool_runs_total", tool="lookup_order", outcome="ok") == 1
    assert samples.value("callvisor_capacity_in_use", scope="global") == 0
    assert samples.value("callvisor_capacity_limit", scope="global") == 100

    buckets = {dict(labels)["le"]: value for labels, value in samples.named("callvisor_intake_seconds_bucket").items()}
    assert {"0.0005", "0.1", "5.0", "+Inf"} <= set(buckets)
    assert buckets["+Inf"] == 1
    values = [buckets[le] for le in sorted(buckets, key=float)]
    assert values == sorted(values)  # cumulative
    assert samples.value("callvisor_intake_seconds_count") == 1
    assert samples.value("callvisor_intake_seconds_sum") is not None
