"""The Prometheus files of the kit, checked by promtool, the tool that consumes them.

promtool comes from Debian's `prometheus` package (.ci/run installs it); without it these tests
are skipped, saying so.  That each metric the rules name is served is
test_deploy_metrics_served.py's.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.deploy.kit import (
    RULE_TESTS,
    RULES,
    SCRAPE,
    as_promql,
    dashboard_expressions,
    promtool,
    rules,
)


def _run(*args: str, cwd: Path = RULES.parent) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_rules_pass_promtool_check_rules() -> None:
    """`promtool check rules`: every expression parses and the lint finds no duplicate."""
    result = _run("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_pass_their_promtool_unit_tests() -> None:
    """`promtool test rules`: each alert fires on its case and stays quiet short of it."""
    result = _run("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test() -> None:
    """An alert no case evaluates could fire on nothing (or everything) unnoticed."""
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    assert alerts - tested == set()


def test_every_alert_says_how_bad_and_what() -> None:
    """Routing needs a severity; the page needs a summary and a description."""
    lacking = [
        rule["alert"] for rule in rules() if "alert" in rule and not (
            rule.get("labels", {}).get("severity") in {"warning", "critical"}
            and {"summary", "description"} <= set(rule.get("annotations", {}))
        )
    ]
    assert lacking == []


def test_the_scrape_config_passes_promtool_check_config() -> None:
    """The example scrape configuration is one Prometheus accepts (the token file aside)."""
    result = _run("check", "config", "--syntax-only", SCRAPE.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_queries_parse(tmp_path: Path) -> None:
    """Every Grafana query, its variables filled in, parses as PromQL (as a recording rule)."""
    expressions = dashboard_expressions()
    document = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{n}", "expr": as_promql(expr)}
        for n, expr in enumerate(expressions.values())
    ]}]}
    (tmp_path / "dashboard-rules.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    result = _run("check", "rules", "--lint=none", "dashboard-rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(expressions)} rules found" in result.stdout
