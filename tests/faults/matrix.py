"""Checking one row of the fault matrix against what callvisor did.

The rows are :data:`supervisor.commands.faults.FAULTS`; each ``test_faults_*`` module injects
its area's faults and hands the outcome to :func:`check_documented`, which compares it with
the row field by field, the way an operator would observe it: the webhook's answer, the
requests the simulated OpenAI received, the log line, the call's end, the metric, and
afterwards no slot held, no sideband open and no crashed actor.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import trio
from prometheus_client.parser import text_string_to_metric_families

from supervisor.commands.faults import Fault
from supervisor.testing import Driver

#: Bound of any single wait (virtual seconds under mock_clock, real ones for the tenant store).
WAIT_S = 60.0
#: The tool name ``TOOL`` stands for in a row's metric.
TOOL = "lookup_order"

_METRIC = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>.*)\})?$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def reason_of(line: dict[str, Any]) -> object:
    """The reason code of a logged event: its error's, or its own field when it has no error."""
    error = line.get("error")
    return error["reason"] if isinstance(error, dict) else line.get("reason")


def metric_key(metric: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``name{a="b"}`` as (sample name, sorted labels)."""
    match = _METRIC.match(metric.replace("TOOL", TOOL))
    assert match is not None, f"not a metric selector: {metric}"
    labels = tuple(sorted(_LABEL.findall(match["labels"] or "")))
    return match["name"], labels


async def samples(driver: Driver) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with trio.fail_after(WAIT_S):
        response = await driver.admin("GET", "/metrics")
    assert response.status_code == 200
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def wait_log(driver: Driver, event: str, call_id: str) -> dict[str, Any]:
    with trio.fail_after(WAIT_S):
        return await driver.logs.wait_for(event, call_id=call_id)


async def check_documented(
    fault: Fault, driver: Driver, call_id: str, response: httpx.Response | None
) -> dict[str, Any]:
    """Assert that the call ``call_id`` met ``fault`` as its row says; returns the event's line.

    ``response`` is the webhook's answer (None for a fault that comes mid-call).  A row whose
    call goes on (``ends`` None, webhook accepted) must still be live here; the caller ends it
    and then calls :func:`check_nothing_left`.
    """
    if fault.webhook_status is None:
        assert response is None or response.json() == {"ok": True, "accepted": call_id}
    else:
        assert response is not None
        assert response.status_code == fault.webhook_status
        assert fault.webhook_body is not None
        assert response.json() == json.loads(fault.webhook_body.replace("CALL_ID", json.dumps(call_id)))

    line = await wait_log(driver, fault.event, call_id)
    assert line["level"] == "ERROR"
    assert reason_of(line) == fault.reason
    for key, value in fault.context:
        assert line["error"]["context"][key] == value

    if fault.ends is not None:
        ended = await wait_log(driver, "call_ended", call_id)
        assert ended["reason"] == fault.ends
    else:
        assert driver.logs.events("call_ended", call_id=call_id) == []

    assert driver.actions(call_id) == list(fault.openai)
    found = await samples(driver)
    for metric in fault.metrics:
        assert found.get(metric_key(metric), 0.0) >= 1.0, f"{metric} did not count the fault"
    assert driver.logs.events("call_actor_crashed") == []
    return line


async def check_nothing_left(driver: Driver) -> None:
    """No sideband open on the platform, no call live, no slot held (the operator's view too)."""
    with trio.fail_after(WAIT_S):
        await driver.platform.wait_sidebands_closed()
        response = await driver.admin("GET", "/actors")
    tree = response.json()
    assert tree["calls"] == []
    assert tree["capacity"]["used"] == 0
    assert tree["capacity"]["by_tenant"] == {}
    assert driver.supervisor.capacity.in_use == 0
    assert driver.logs.events("call_actor_crashed") == []
