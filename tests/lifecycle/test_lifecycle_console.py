"""The operator console over HTTP: its page, its state route, paging, and who may use it.

What a browser sees is in tests/browser; here each rule is pinned at the HTTP level: the state
route's calls, capacity, decisions and health; the tree paged above ``CALLS_PER_PAGE`` calls;
with ADMIN_TOKEN, a sign-in form and nothing else without credentials, a cookie that is not the
token, the token never in a URL, a log line or a page; POSTs from another origin refused; without
a token, a Host that is not loopback refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from actors.decision import Decision, Outcome
from supervisor.admin_auth import COOKIE_NAME
from supervisor.console import CALLS_PER_PAGE
from supervisor.recent_decisions import RECENT_DECISIONS, RecentDecisions
from supervisor.testing import EXAMPLE_TENANTS
from tests.rig import GLOBEX

if TYPE_CHECKING:
    from tests.lifecycle.conftest import Driver, OpenDriver, ToolEndpoint

TOKEN = "console-token-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[2]


async def _state(driver: Driver, **params: Any) -> dict[str, Any]:
    response = await driver.admin("GET", "/console/state", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    state: dict[str, Any] = response.json()
    return state


def _task_names(tasks: list[dict[str, Any]]) -> list[str]:
    return [name for task in tasks for name in (task["task"], *_task_names(task["children"]))]


async def test_console_page_and_its_assets_are_served_with_a_strict_policy(driver: Driver) -> None:
    """GET / is the console page (its own script and style only, by CSP); the assets are served."""
    page = await driver.admin("GET", "/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    assert '<script src="/console/console.js" defer></script>' in page.text
    assert 'id="tree"' in page.text
    script = await driver.admin("GET", "/console/console.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "/console/state" in script.text
    assert "innerHTML" not in script.text  # strings from the service go in as text only
    style = await driver.admin("GET", "/console/console.css")
    assert style.status_code == 200
    assert style.headers["content-type"].startswith("text/css")


async def test_state_shows_calls_with_their_tasks_capacity_decisions_and_health(
    tool_driver: Driver, tool_endpoint: ToolEndpoint, mock_clock: trio.testing.MockClock
) -> None:
    """One refresh: the live call and its tool task, capacity per tenant, accepted and rejected decisions, health."""
    tool_endpoint.hold = trio.Event()
    call = await tool_driver.start("rtc_console")
    await tool_driver.start("rtc_globex", to=GLOBEX)
    rejected = await tool_driver.rig.call("rtc_globex_2", to=GLOBEX)
    assert rejected.json() == {"ok": True, "rejected": "capacity"}
    tool_call_id = await tool_driver.function_call(call, "lookup_order", '{"order_number": "A1"}')
    await tool_endpoint.wait_request()

    state = await _state(tool_driver)
    assert state["replica_id"] == "replica-test"
    assert state["draining"] is False
    assert state["token_required"] is False
    assert state["capacity"] == {
        "used": 2, "limit": 100,
        "tenants": [{"tenant_id": "acme-corp", "used": 1, "limit": 10}, {"tenant_id": "globex", "used": 1, "limit": 1}],
    }
    calls = state["calls"]
    assert (calls["total"], calls["matching"], calls["offset"], calls["per_page"]) == (2, 2, 0, CALLS_PER_PAGE)
    views = {view["call_id"]: view for view in calls["items"]}
    assert views["rtc_console"]["tenant_id"] == "acme-corp"
    assert views["rtc_console"]["state"] == "live"
    assert views["rtc_console"]["tools_running"] == ["lookup_order"]
    assert f"tool:lookup_order:{tool_call_id}" in _task_names(views["rtc_console"]["tasks"])
    assert 0 < views["rtc_console"]["deadline_in_s"] <= 1800
    assert state["by_tenant"] == [
        {"tenant_id": "acme-corp", "calls": 1, "states": {"live": 1}, "tools_running": 1},
        {"tenant_id": "globex", "calls": 1, "states": {"live": 1}, "tools_running": 0},
    ]
    decisions = state["decisions"]
    assert [(d["call_id"], d["outcome"], d["reason"], d["cause"], d["sip_status"]) for d in decisions] == [
        ("rtc_globex_2", "rejected", "capacity", "tenant_capacity", 486),
        ("rtc_globex", "accepted", None, None, None),
        ("rtc_console", "accepted", None, None, None),
    ]
    assert [d["seq"] for d in decisions] == [3, 2, 1]
    assert state["decisions_seq"] == 3
    assert all(d["decision_ms"] >= 0 for d in decisions)
    assert state["health"]["ready"] is True
    assert state["health"]["dependencies"]["call_control"]["state"] == "ok"
    assert state["health"]["dependencies"]["tenant_store"] == {"source": "file", "state": "ok"}
    assert state["cluster"] is None

    # A refresh carries only the decisions the page does not have yet.
    assert (await _state(tool_driver, decisions_after=3))["decisions"] == []
    assert [d["call_id"] for d in (await _state(tool_driver, decisions_after=2))["decisions"]] == ["rtc_globex_2"]

    tool_endpoint.hold.set()
    await tool_driver.tool_output(call, tool_call_id)
    await tool_driver.caller_hangup(call)
    await tool_driver.caller_hangup(tool_driver.platform.call("rtc_globex"))
    after = await _state(tool_driver)
    assert after["calls"]["items"] == []
    assert after["by_tenant"] == []
    assert after["capacity"]["used"] == 0


async def test_state_pages_the_tree_and_summarises_every_tenant(
    open_driver: OpenDriver, tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    """Above CALLS_PER_PAGE calls a refresh lists one page of calls in full and counts every call by tenant."""
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(EXAMPLE_TENANTS.read_text().replace("max_concurrent_calls: 10", "max_concurrent_calls: 100"))
    count = CALLS_PER_PAGE + 5
    async with open_driver({"CALLVISOR_TENANTS_FILE": str(tenants)}) as driver:
        for i in range(count - 1):
            await driver.start(f"rtc_page_{i:03d}")
        await driver.start("rtc_page_globex", to=GLOBEX)

        first = await _state(driver)
        assert first["calls"]["total"] == count
        assert len(first["calls"]["items"]) == CALLS_PER_PAGE
        assert first["calls"]["items"][0]["call_id"] == "rtc_page_000"  # oldest first
        assert first["by_tenant"] == [
            {"tenant_id": "acme-corp", "calls": count - 1, "states": {"live": count - 1}, "tools_running": 0},
            {"tenant_id": "globex", "calls": 1, "states": {"live": 1}, "tools_running": 0},
        ]
        second = await _state(driver, offset=CALLS_PER_PAGE)
        assert [v["call_id"] for v in second["calls"]["items"]] == [
            *(f"rtc_page_{i:03d}" for i in range(CALLS_PER_PAGE, count - 1)), "rtc_page_globex",
        ]
        globex = await _state(driver, tenant="globex")
        assert (globex["calls"]["matching"], [v["call_id"] for v in globex["calls"]["items"]]) == (1, ["rtc_page_globex"])
        nobody = await _state(driver, tenant="nobody")
        assert (nobody["calls"]["matching"], nobody["calls"]["items"]) == (0, [])
        for bad in ({"offset": "-1"}, {"offset": "x"}, {"decisions_after": "1e9"}, {"tenant": "t" * 201}):
            response = await driver.admin("GET", "/console/state", params=bad)
            assert response.status_code == 400, bad
        assert (await driver.admin("GET", "/actors")).json()["capacity"]["used"] == count


def test_recent_decisions_ring_is_bounded_and_newest_first() -> None:
    """The ring keeps the last RECENT_DECISIONS decisions; views(after=) gives the newer ones, newest first."""
    ring = RecentDecisions()
    for i in range(RECENT_DECISIONS + 50):
        ring.record(Decision(outcome=Outcome.ACCEPTED, call_id=f"rtc_{i}"), decision_s=0.001)
    ring.record(
        Decision(outcome=Outcome.REJECTED, call_id="rtc_busy", reason="capacity", sip_status=486, tenant_id="acme-corp"),
        decision_s=float("nan"),
    )
    assert len(ring) == RECENT_DECISIONS
    views = ring.views()
    assert len(views) == RECENT_DECISIONS
    assert views[0] | {"at": 0} == {
        "seq": RECENT_DECISIONS + 51, "at": 0, "call_id": "rtc_busy", "tenant_id": "acme-corp",
        "outcome": "rejected", "reason": "capacity", "cause": None, "sip_status": 486, "decision_ms": None,
    }
    assert views[1]["decision_ms"] == 1.0
    assert views[-1]["call_id"] == "rtc_51"
    assert [v["call_id"] for v in ring.views(after=RECENT_DECISIONS + 49)] == ["rtc_busy", f"rtc_{RECENT_DECISIONS + 49}"]


# -- with ADMIN_TOKEN ---------------------------------------------------------------------------


async def test_with_a_token_the_page_shows_only_a_sign_in_form_until_signed_in(
    open_driver: OpenDriver, mock_clock: trio.testing.MockClock
) -> None:
    """ADMIN_TOKEN: no data without credentials; sign-in sets an HttpOnly SameSite=Strict cookie that is not the token."""
    async with open_driver({"ADMIN_TOKEN": TOKEN}) as driver:
        await driver.start("rtc_signed")
        anonymous = await driver.admin("GET", "/")
        assert anonymous.status_code == 200
        assert 'action="/console/sign-in"' in anonymous.text
        assert "console.js" not in anonymous.text
        assert "rtc_signed" not in anonymous.text
        assert (await driver.admin("GET", "/console/console.css")).status_code == 200
        for path in ("/console/state", "/actors", "/ready", "/metrics"):
            refused = await driver.admin("GET", path)
            assert (refused.status_code, refused.json()) == (401, {"ok": False, "error": "unauthorized"}), path
        # A token in a URL is never honoured (URLs end up in logs and histories).
        assert (await driver.admin("GET", "/console/state", params={"token": TOKEN})).status_code == 401

        wrong = await driver.admin("POST", "/console/sign-in", data={"token": TOKEN + "x"})
        assert wrong.status_code == 401
        assert 'id="sign-in-problem"' in wrong.text
        assert "set-cookie" not in wrong.headers
        huge = await driver.admin("POST", "/console/sign-in", data={"token": "x" * 5000})
        assert huge.status_code == 413

        signed = await driver.admin("POST", "/console/sign-in", data={"token": TOKEN})
        assert (signed.status_code, signed.headers["location"]) == (303, "/")
        set_cookie = signed.headers["set-cookie"]
        assert set_cookie.startswith(f"{COOKIE_NAME}=")
        assert "HttpOnly" in set_cookie
        assert "SameSite=Strict" in set_cookie
        assert "Path=/" in set_cookie
        assert "Secure" not in set_cookie  # plain http on loopback; set over https
        value = set_cookie.split(";", 1)[0].split("=", 1)[1]
        assert re.fullmatch(r"[0-9a-f]{64}", value)
        assert TOKEN not in value
        driver.rig.http.cookies.clear()  # sent by hand below, one at a time
        cookies = {"Cookie": f"{COOKIE_NAME}={value}"}

        page = await driver.admin("GET", "/", headers=cookies)
        assert '<script src="/console/console.js" defer></script>' in page.text
        state = await driver.admin("GET", "/console/state", headers=cookies)
        assert state.status_code == 200
        assert state.json()["token_required"] is True
        assert [v["call_id"] for v in state.json()["calls"]["items"]] == ["rtc_signed"]
        bearer = await driver.admin("GET", "/console/state", headers={"Authorization": f"Bearer {TOKEN}"})
        assert bearer.status_code == 200
        # Not any cookie: one derived from another token is refused, and so is the token itself.
        for other in ("0" * 64, TOKEN, value[:-1]):
            assert (await driver.admin("GET", "/console/state", headers={"Cookie": f"{COOKIE_NAME}={other}"})).status_code == 401
        # The cookie works the actions (a same-origin POST, as the page's script makes).
        hangup = await driver.admin(
            "POST", "/actors/rtc_signed/hangup", headers={**cookies, "Origin": driver.rig.admin_url},
        )
        assert hangup.status_code == 202
        await driver.ended("rtc_signed")

        out = await driver.admin("POST", "/console/sign-out", headers=cookies)
        assert out.status_code == 303
        assert out.headers["set-cookie"].startswith(f'{COOKIE_NAME}=""') or "Max-Age=0" in out.headers["set-cookie"]

        assert driver.logs.events("operator_signed_in")
        assert TOKEN not in str(driver.logs.lines)
        for body in (anonymous.text, wrong.text, page.text, state.text):
            assert TOKEN not in body


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # another port of the same host is another origin
    ],
    ids=["other_origin", "null_origin", "cross_site", "same_site"],
)
async def test_posts_from_another_origin_are_refused(
    open_driver: OpenDriver, headers: dict[str, str], mock_clock: trio.testing.MockClock
) -> None:
    """A POST that a page of another origin made is refused (403 cross_origin), with or without credentials."""
    async with open_driver({"ADMIN_TOKEN": TOKEN}) as driver:
        await driver.start("rtc_csrf")
        good = {"Authorization": f"Bearer {TOKEN}"}
        for path in ("/drain", "/actors/rtc_csrf/hangup", "/tenants/reload", "/console/sign-in"):
            response = await driver.admin("POST", path, headers={**good, **headers})
            assert (response.status_code, response.json()) == (403, {"ok": False, "error": "cross_origin"}), path
        refused = driver.logs.events("admin_request_refused")
        assert {line["reason"] for line in refused} == {"cross_origin"}
        assert len(refused) == 4
        assert driver.rig.supervisor.draining is False
        assert "rtc_csrf" in driver.rig.supervisor.calls
        # The console's own origin passes.
        same = await driver.admin("POST", "/drain", headers={**good, "Origin": driver.rig.admin_url, "Sec-Fetch-Site": "same-origin"})
        assert same.status_code == 202


async def test_without_a_token_a_host_that_is_not_loopback_is_refused(
    driver: Driver, mock_clock: trio.testing.MockClock
) -> None:
    """No ADMIN_TOKEN: a request whose Host names another machine (DNS rebinding) is refused; loopback names pass."""
    for path in ("/", "/console/state", "/actors"):
        response = await driver.admin("GET", path, headers={"Host": "rebound.evil.example:8001"})
        assert (response.status_code, response.json()) == (403, {"ok": False, "error": "host_not_loopback"})
    drain = await driver.admin("POST", "/drain", headers={"Host": "rebound.evil.example", "Origin": "http://rebound.evil.example"})
    assert drain.status_code == 403
    assert driver.rig.supervisor.draining is False
    port = driver.rig.admin_url.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "127.0.0.1"):
        assert (await driver.admin("GET", "/console/state", headers={"Host": host})).status_code == 200, host
    # Without a token there is nothing to sign in to.
    assert (await driver.admin("POST", "/console/sign-in", data={"token": "x"})).status_code == 404


def test_console_files_are_package_data() -> None:
    """Every file the console serves matches pyproject's package-data globs, so it installs with the package."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "supervisor.console" in config["packages"]
    globs = config["package-data"]["supervisor.console"]
    folder = ROOT / "supervisor" / "console"
    served = sorted(p.name for p in folder.iterdir() if p.suffix in (".html", ".js", ".css"))
    assert served == ["console.css", "console.js", "index.html", "signin.html"]
    for name in served:
        assert any(Path(name).match(pattern) for pattern in globs), name
    others = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix != ".py")
    assert others == served  # nothing beside them that would not install
