"""The operator console in a real browser: what a person sees while calls come and go.

The service runs against the simulated platform in this test's trio loop (real clock, real
sockets); headless Chromium (tests/browser/conftest.py) loads the console from the operator port.
Pinned: a call appears in the tree within a second of its sideband coming up, a tool task
appears while its tool runs, the capacity bars follow, a rejected call shows in the recent
decisions with its reason and SIP status, hang up (confirmed) ends the call on the platform and
takes it off the page, drain (confirmed) flips the health panel; with ADMIN_TOKEN the page is a
sign-in form until the token is given, and the token is in no URL, page or readable cookie.

``CALLVISOR_SCREENSHOT=PATH`` (``make screenshots``) saves the page, live calls and a tool task
on it, to PATH: the picture in docs/operations.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import trio

from tests.browser.conftest import in_browser
from tests.rig import ACME, GLOBEX, Rig, open_rig

#: How soon a change must show on the page (the page refreshes every 0.5 s).
SHOWS_WITHIN_S = 1.0
#: Bound for the other waits (starting calls, dialogs, the platform's requests).
WAIT_S = 15.0
TOKEN = "browser-token-0123456789abcdef"


class SlowTool:
    """acme-corp's ``lookup_order`` endpoint: each request stays open until ``release``."""

    def __init__(self) -> None:
        self.released = trio.Event()
        self.arrived = trio.Event()

    async def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.arrived.set()
        await self.released.wait()
        order = json.loads(request.content or b"{}").get("order_number")
        return httpx2.Response(200, json={"order_number": order, "status": "shipped"})

    def release(self) -> None:
        self.released.set()


async def until(browser: Any, condition: Callable[[Any], Any], *, within_s: float = WAIT_S, what: str = "") -> Any:
    """Wait (in a worker thread) until ``condition(browser)`` is truthy; its value."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.wait import WebDriverWait

    def wait() -> Any:
        return WebDriverWait(browser, within_s, poll_frequency=0.05).until(condition)

    try:
        return await in_browser(wait)
    except TimeoutException:
        raise AssertionError(f"not shown within {within_s} s: {what}") from None


#: The text of every element a selector matches, read in one script (so none goes stale between
#: finding it and reading it while the page redraws).
_TEXTS = "return Array.from(document.querySelectorAll(arguments[0]), (e) => e.textContent);"


def _texts(browser: Any, selector: str) -> list[str]:
    return list(browser.execute_script(_TEXTS, selector))


def _css(selector: str) -> Callable[[Any], bool]:
    return lambda browser: bool(_texts(browser, selector))


def _gone(selector: str) -> Callable[[Any], bool]:
    return lambda browser: not _texts(browser, selector)


def _text(selector: str, expected: str) -> Callable[[Any], bool]:
    return lambda browser: any(expected in text for text in _texts(browser, selector))


async def _confirm(browser: Any, click_selector: str) -> str:
    """Click the element, accept the confirmation dialog; the dialog's text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    await in_browser(lambda: browser.find_element(By.CSS_SELECTOR, click_selector).click())
    alert = await until(browser, expected_conditions.alert_is_present(), what="the confirmation dialog")
    text = str(alert.text)
    await in_browser(alert.accept)
    return text


async def _live_call(rig: Rig, call_id: str, to: str = ACME) -> None:
    with trio.fail_after(WAIT_S):
        response = await rig.call(call_id, to=to)
        assert response.json() == {"ok": True, "accepted": call_id}
        await rig.wait_session(call_id)


async def test_console_shows_calls_tools_capacity_decisions_and_runs_hangup_and_drain(browser: Any) -> None:
    """A person watching the console sees calls, tool tasks, capacity and rejections, and can hang up and drain."""
    tool = SlowTool()
    env = {"CALLVISOR_DRAIN_GRACE_S": "120"}  # the page stays up, draining, while a call is live
    async with open_rig(env, tool_transport=httpx2.MockTransport(tool.handle)) as rig:
        await in_browser(lambda: browser.get(f"{rig.admin_url}/"))
        await until(browser, _text("#tree", "no live calls"), what="the empty tree")
        await until(browser, _text("#cap-global .used", "0 / 100"), what="capacity 0 / 100")
        await until(browser, _text("#health-draining", "no"), what="not draining")

        await _live_call(rig, "rtc_browser_1")
        await until(browser, _css('li.actor[data-call-id="rtc_browser_1"]'), within_s=SHOWS_WITHIN_S, what="the call in the tree")
        await until(browser, _text("#cap-global .used", "1 / 100"), within_s=SHOWS_WITHIN_S, what="capacity 1 / 100")
        await until(browser, _text('.bar[data-tenant="acme-corp"] .used', "1 / 10"), what="acme-corp's bar at 1 / 10")

        call = rig.platform.call("rtc_browser_1")
        with trio.fail_after(WAIT_S):
            tool_call_id = await call.function_call("lookup_order", '{"order_number": "A1"}')
            await tool.arrived.wait()
        tool_task = f'li.task.tool[data-task="tool:lookup_order:{tool_call_id}"]'
        await until(browser, _css(tool_task), within_s=SHOWS_WITHIN_S, what="the tool task under the call")
        await until(browser, _text('li.actor[data-call-id="rtc_browser_1"] .tools', "lookup_order"), what="tools running")
        await until(browser, _text('li.actor[data-call-id="rtc_browser_1"] li.task', "sideband reader"), what="the reader task")

        await _live_call(rig, "rtc_browser_2")
        await _live_call(rig, "rtc_globex_1", to=GLOBEX)
        with trio.fail_after(WAIT_S):
            busy = await rig.call("rtc_globex_2", to=GLOBEX)
        assert busy.json() == {"ok": True, "rejected": "capacity"}
        rejected_row = '#decisions tr[data-call-id="rtc_globex_2"]'
        await until(browser, _text(rejected_row, "rejected capacity (tenant_capacity)"), within_s=SHOWS_WITHIN_S, what="the rejection")
        await until(browser, _text(rejected_row, "486"), what="its SIP status")
        await until(browser, _text("#cap-global .used", "3 / 100"), what="capacity 3 / 100")
        await until(browser, _text('.bar[data-tenant="globex"] .used', "1 / 1"), what="globex's bar full")

        if shot := os.environ.get("CALLVISOR_SCREENSHOT"):
            await until(browser, _css(tool_task), what="the tool task, for the picture")
            Path(shot).parent.mkdir(parents=True, exist_ok=True)
            assert await in_browser(lambda: browser.save_screenshot(shot))

        asked = await _confirm(browser, 'button.hangup[data-call-id="rtc_globex_1"]')
        assert "rtc_globex_1" in asked
        with trio.fail_after(WAIT_S):
            await rig.platform.wait_for_request("hangup", "rtc_globex_1")
            ended = await rig.wait_log("call_ended", call_id="rtc_globex_1")
        assert ended["reason"] == "operator_hangup"
        await until(browser, _text("#result", "call rtc_globex_1 is hanging up"), what="the hangup's result")
        await until(browser, _gone('li.actor[data-call-id="rtc_globex_1"]'), what="the call off the page")
        await until(browser, _text("#cap-global .used", "2 / 100"), what="capacity 2 / 100")

        tool.release()
        asked = await _confirm(browser, "#drain")
        assert "Drain" in asked
        await until(browser, _text("#health-draining", "yes"), within_s=SHOWS_WITHIN_S + 1, what="draining: yes")
        await until(browser, _text("#health-ready", "no"), what="ready: no")
        await until(browser, _text("#result", "draining"), what="the drain's result")
        assert rig.supervisor.draining
        with trio.fail_after(WAIT_S):
            await rig.wait_log("drain_started")


async def test_with_a_token_the_console_asks_for_it_and_keeps_it_out_of_sight(browser: Any) -> None:
    """ADMIN_TOKEN: a sign-in form first (a wrong token says so); once signed in, the console, and the token in no URL, page or script-readable cookie."""
    from selenium.webdriver.common.by import By

    async with open_rig({"ADMIN_TOKEN": TOKEN}) as rig:
        await _live_call(rig, "rtc_signed_in")
        await in_browser(lambda: browser.get(f"{rig.admin_url}/"))
        await until(browser, _css("#sign-in"), what="the sign-in form")
        assert not browser.find_elements(By.CSS_SELECTOR, "#tree")

        def sign_in(token: str) -> None:
            field = browser.find_element(By.CSS_SELECTOR, "#token")
            field.clear()
            field.send_keys(token)
            browser.find_element(By.CSS_SELECTOR, "#sign-in-button").click()

        await in_browser(lambda: sign_in("not-the-token"))
        await until(browser, _text("#sign-in-problem", "not the operator token"), what="the wrong-token message")
        await in_browser(lambda: sign_in(TOKEN))
        await until(browser, _css('li.actor[data-call-id="rtc_signed_in"]'), what="the console, signed in")
        await until(browser, lambda b: b.find_element(By.CSS_SELECTOR, "#sign-out-form").is_displayed(), what="sign out")

        assert TOKEN not in browser.current_url
        assert TOKEN not in await in_browser(lambda: browser.page_source)
        assert await in_browser(lambda: browser.execute_script("return document.cookie")) == ""  # HttpOnly
        [cookie] = await in_browser(browser.get_cookies)
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert TOKEN not in cookie["value"]

        await in_browser(lambda: browser.find_element(By.CSS_SELECTOR, "#sign-out").click())
        await until(browser, _css("#sign-in"), what="the sign-in form again")
        assert await in_browser(browser.get_cookies) == []
        assert TOKEN not in str(rig.logs.lines)
