"""Tenants reloaded without a restart: POST /tenants/reload (and SIGHUP, tests/e2e) re-read the file.

New calls get the new tenants at once; a live call keeps the plan it was accepted with; a file
that cannot be used, or would take tenants or numbers out of service, leaves the old tenants in
place with every problem logged and answered.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import trio.testing

from supervisor.testing import EXAMPLE_TENANTS

if TYPE_CHECKING:
    from tests.lifecycle.conftest import OpenDriver

OLD_GREETING = "Hello, thanks for calling Acme. How can I help you today?"
NEW_GREETING = "Welcome back to Acme, now reloaded."
TRANSFER = """        - kind: transfer_call
          target_uri: "tel:+14155550123"
          description: Transfer the caller to the Acme service desk when they ask for a person.
"""


def _tenants_copy(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.yaml"
    path.write_text(EXAMPLE_TENANTS.read_text())
    return path


async def test_a_reload_swaps_the_greeting_for_new_calls_while_a_live_call_keeps_its_plan(
    open_driver: OpenDriver, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """acme's greeting changed and its transfer tool removed: the next call greets anew without
    the tool; the call accepted before still transfers."""
    tenants = _tenants_copy(tmp_path)
    async with open_driver({"CALLVISOR_TENANTS_FILE": str(tenants)}) as driver:
        before = await driver.start("rtc_before_reload")
        assert OLD_GREETING in (await driver.client_event("rtc_before_reload", "response.create"))["response"]["instructions"]

        text = tenants.read_text()
        assert TRANSFER in text
        assert OLD_GREETING in text
        tenants.write_text(text.replace(TRANSFER, "").replace(OLD_GREETING, NEW_GREETING))
        answer = await driver.admin("POST", "/tenants/reload")
        assert (answer.status_code, answer.json()) == (
            200, {"ok": True, "source": "file", "added": [], "removed": [], "changed": ["acme-corp"],
                  "problems": answer.json()["problems"]},
        )
        reloaded = await driver.log("tenants_reloaded")
        assert (reloaded["trigger"], reloaded["changed"]) == ("POST /tenants/reload", ["acme-corp"])

        await driver.start("rtc_after_reload")
        greeting = await driver.client_event("rtc_after_reload", "response.create")
        assert NEW_GREETING in greeting["response"]["instructions"]
        accept = (await driver.request("accept", "rtc_after_reload")).body
        assert accept is not None
        assert [tool["name"] for tool in accept["tools"]] == ["end_call", "lookup_order"]

        await driver.function_call(before, "transfer_call", "{}")  # accepted with the old plan
        refer = await driver.request("refer", "rtc_before_reload")
        assert refer.body == {"target_uri": "tel:+14155550123"}
        assert (await driver.ended("rtc_before_reload"))["reason"] == "transferred"
        await driver.caller_hangup(driver.platform.call("rtc_after_reload"))
        await driver.assert_no_leaks()


async def test_a_file_that_cannot_be_used_keeps_the_old_tenants(
    open_driver: OpenDriver, mock_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """Not YAML, a duplicate number, a missing file: 422 with every problem, the old tenants stay."""
    tenants = _tenants_copy(tmp_path)
    good = tenants.read_text()
    async with open_driver({"CALLVISOR_TENANTS_FILE": str(tenants)}) as driver:
        cases = {
            "not YAML": "tenants: [unclosed",
            "a number claimed twice": good.replace('phone_numbers: ["+18005550100"]', 'phone_numbers: ["+18005551212"]'),
            "a duplicate id": good.replace("- id: globex", "- id: acme-corp"),
        }
        assert cases["a number claimed twice"] != good
        assert cases["a duplicate id"] != good
        for name, text in cases.items():
            tenants.write_text(text.replace(OLD_GREETING, NEW_GREETING))
            answer = await driver.admin("POST", "/tenants/reload")
            assert answer.status_code == 422, name
            assert answer.json()["error"] == "tenants_reload_failed"
            assert answer.json()["problems"], name
        tenants.unlink()
        answer = await driver.admin("POST", "/tenants/reload")
        assert answer.status_code == 422
        assert "cannot read the file" in answer.json()["problems"][0]
        failures = driver.logs.events("tenants_reload_failed")
        assert len(failures) == 4
        assert all(line["problems"] for line in failures)

        await driver.start("rtc_old_tenants")
        greeting = await driver.client_event("rtc_old_tenants", "response.create")
        assert OLD_GREETING in greeting["response"]["instructions"]
        await driver.caller_hangup(driver.platform.call("rtc_old_tenants"))
        await driver.assert_no_leaks()
