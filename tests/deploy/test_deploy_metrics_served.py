"""Every metric the kit's alert rules and dashboard name is one a running callvisor serves.

A real callvisor (in-process, on loopback, against the simulated platform, tenants in a
mongomock MongoDB so that the store's metrics exist) is put through what makes each labelled
series appear: an accept that fails, live calls of two tenants, a capacity rejection, a tool
call, a drain with a late call.  Then its GET /metrics is read, and each selector of the rule
file and the dashboard must match a sample there: the metric by name, each ``label="value"``
matcher by a sample carrying it.  The one rejection reason no in-process service can show here,
``capacity_unavailable`` (cluster mode with MongoDB unreachable), is checked against the
rejection reasons of actors/decision.py instead.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpx
import mongomock
import trio
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from actors.decision import SIP_STATUS_BY_REASON
from config.mongo_import import import_tenants
from config.mongo_source import MongoTenantSource
from config.mongo_store import MongoStore
from config.tenants_file import FileTenantSource
from supervisor.testing import (
    EXAMPLE_TENANTS,
    LogTap,
    WebhookSigner,
    new_secret,
    open_callvisor,
    open_platform,
    settings_for,
)
from tests.deploy.kit import dashboard_expressions, rule_expressions, rules
from tests.deploy.promql import selectors
from tests.rig import ACME, GLOBEX, Rig

#: Label values a live service cannot be made to show here, and where they come from instead.
KNOWN_VALUES = {("callvisor_calls_total", "reason"): set(SIP_STATUS_BY_REASON)}


async def _scrape_a_busy_service() -> list[Sample]:
    store = MongoStore(mongomock.MongoClient(), timeout_ms=2000, max_threads=1)
    await import_tenants(store, FileTenantSource.load(EXAMPLE_TENANTS), dry_run=False)
    signer, logs = WebhookSigner(new_secret()), LogTap()
    with logs.installed(), trio.fail_after(60):
        async with open_platform() as platform:
            settings = settings_for(platform, signer, env={"CALLVISOR_DRAIN_GRACE_S": "60"})
            async with (
                open_callvisor(settings, MongoTenantSource(store)) as info,
                httpx.AsyncClient(timeout=10) as http,
            ):
                rig = Rig(platform, signer, info, http, logs)
                platform.fail("accept", status=503)
                assert (await rig.call("rtc_kit_failed")).status_code == 503
                assert (await rig.call("rtc_kit_acme", to=ACME)).json()["accepted"] == "rtc_kit_acme"
                assert (await rig.call("rtc_kit_globex", to=GLOBEX)).json()["accepted"] == "rtc_kit_globex"
                busy = (await rig.call("rtc_kit_busy", to=GLOBEX)).json()
                assert busy == {"ok": True, "rejected": "capacity"}
                await rig.wait_session("rtc_kit_acme")
                acme = platform.call("rtc_kit_acme")
                await acme.wait_tool_output(await acme.function_call("no_such_tool", "{}"))
                assert (await rig.admin("POST", "/drain")).status_code == 202
                late = (await rig.call("rtc_kit_late", to=ACME)).json()
                assert late == {"ok": True, "rejected": "draining"}
                text = (await rig.admin("GET", "/metrics")).text
                for call_id in ("rtc_kit_acme", "rtc_kit_globex"):
                    await platform.call(call_id).caller_hangup()
                    await rig.wait_log("call_ended", call_id=call_id)
    await store.aclose()
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def _unserved(expressions: Iterable[str], samples: list[Sample], recorded: set[str]) -> list[str]:
    """Each selector of ``expressions`` no sample matches, as ``metric{label="value"}``."""
    missing = []
    for expr in expressions:
        for selector in selectors(expr):
            if selector.metric in recorded:
                continue
            named = [s for s in samples if s.name == selector.metric]
            if not named:
                missing.append(selector.metric)
            for label, value in selector.matchers:
                served = any(s.labels.get(label) == value for s in named)
                if not served and value not in KNOWN_VALUES.get((selector.metric, label), set()):
                    missing.append(f'{selector.metric}{{{label}="{value}"}}')
    return sorted(set(missing))


async def test_every_metric_the_rules_and_the_dashboard_name_is_served() -> None:
    """Rules and dashboard ask only for series /metrics really has (recording rules aside)."""
    samples = await _scrape_a_busy_service()
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    assert _unserved(rule_expressions().values(), samples, recorded) == [], "deploy/prometheus/callvisor-rules.yaml"
    assert _unserved(dashboard_expressions().values(), samples, set()) == [], "deploy/grafana/callvisor.json"
