from __future__ import annotations

import gc

from prometheus_client.parser import text_string_to_metric_families

from supervisor.metrics import Metrics


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    body, _ = metrics.render()
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return None


def test_render_exposes_every_metric() -> None:
    """GET /metrics lists each metric the operations doc names, with the text content type."""
    body, content_type = Metrics().render()
    text = body.decode()
    assert content_type.startswith("text/plain")
    for name in (
        "callvisor_calls_active",
        "callvisor_calls_total",
        "callvisor_webhooks_total",
        "fallback_instructions_used_total",
        "callvisor_intake_seconds",
        "callvisor_tool_runs_total",
        "callvisor_capacity_in_use",
        "callvisor_capacity_limit",
        "callvisor_gc_pause_seconds",
        "callvisor_trio_tasks",
    ):
        assert f"\n# TYPE {name} " in text
    assert "# HELP fallback_instructions_used_total " in text
    assert 'callvisor_webhooks_total{result="duplicate"} 0.0' in text
    assert 'callvisor_capacity_in_use{scope="global"} 0.0' in text
    for generation in ("0", "1", "2"):
        assert f'callvisor_gc_pause_seconds_count{{generation="{generation}"}} 0.0' in text


def test_counters_gauges_and_histogram_record() -> None:
    """Increments and observations show up in the rendered samples."""
    metrics = Metrics()
    metrics.calls_total.labels(outcome="rejected", reason="capacity").inc()
    metrics.calls_total.labels(outcome="rejected", reason="capacity").inc()
    metrics.webhooks_total.labels(result="accepted").inc()
    metrics.fallback_instructions_used.inc()
    metrics.tool_runs_total.labels(tool="lookup_order", outcome="ok").inc()
    metrics.calls_active.labels(tenant_id="acme-corp").set(3)
    metrics.capacity_in_use.labels(scope="global").set(3)
    metrics.capacity_limit.labels(scope="global").set(50)
    metrics.intake_seconds.observe(0.0008)

    assert sample(metrics, "callvisor_calls_total", outcome="rejected", reason="capacity") == 2
    assert sample(metrics, "callvisor_webhooks_total", result="accepted") == 1
    assert sample(metrics, "fallback_instructions_used_total") == 1
    assert sample(metrics, "callvisor_tool_runs_total", tool="lookup_order", outcome="ok") == 1
    assert sample(metrics, "callvisor_calls_active", tenant_id="acme-corp") == 3
    assert sample(metrics, "callvisor_capacity_in_use", scope="global") == 3
    assert sample(metrics, "callvisor_capacity_limit", scope="global") == 50
    assert sample(metrics, "callvisor_intake_seconds_bucket", le="0.0005") == 0
    assert sample(metrics, "callvisor_intake_seconds_bucket", le="0.001") == 1
    assert sample(metrics, "callvisor_intake_seconds_count") == 1


def test_instances_do_not_share_counts() -> None:
    """Two supervisors in one process keep separate registries."""
    first, second = Metrics(), Metrics()
    first.fallback_instructions_used.inc(5)
    assert sample(first, "fallback_instructions_used_total") == 5
    assert sample(second, "fallback_instructions_used_total") == 0


def test_gc_pauses_are_counted_by_generation_while_timed() -> None:
    """Each collector run inside timing_gc_pauses() lands under its generation; none after."""
    metrics = Metrics()
    with metrics.timing_gc_pauses():
        before = {g: sample(metrics, "callvisor_gc_pause_seconds_count", generation=g) for g in "012"}
        gc.collect()
        gc.collect(0)
        during = {g: sample(metrics, "callvisor_gc_pause_seconds_count", generation=g) for g in "012"}
    assert during["2"] == (before["2"] or 0) + 1
    assert during["0"] is not None
    assert during["0"] >= (before["0"] or 0) + 1
    assert sample(metrics, "callvisor_gc_pause_seconds_sum", generation="2") > 0
    gc.collect()
    assert sample(metrics, "callvisor_gc_pause_seconds_count", generation="2") == during["2"]
