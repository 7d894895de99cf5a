"""Paths and readers shared by the deployment kit's tests (deploy/)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "callvisor-rules.yaml"
RULE_TESTS = DEPLOY / "prometheus" / "callvisor-rules.test.yaml"
SCRAPE = DEPLOY / "prometheus" / "scrape.example.yaml"
DASHBOARD = DEPLOY / "grafana" / "callvisor.json"
KUBERNETES = DEPLOY / "kubernetes"
UNIT = DEPLOY / "systemd" / "callvisor.service"
ENV_FILE = DEPLOY / "systemd" / "callvisor.env.example"


def promtool() -> str:
    """The promtool command, or the test is skipped saying why."""
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool not found (Debian's `prometheus` package; .ci/run installs it)")
    return found


def rules() -> list[dict[str, Any]]:
    """Every rule of the rule file, alerts and recording rules."""
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def rule_expressions() -> dict[str, str]:
    """Each rule's expression by its name (alert or record name; recording rules repeat)."""
    return {f"{rule.get('alert') or rule['record']}#{n}": rule["expr"] for n, rule in enumerate(rules())}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def dashboard_expressions() -> dict[str, str]:
    """Each query of the dashboard (panels and template variables) by where it is."""
    board = dashboard()
    found = {
        f"{panel['title']}/{target['refId']}": target["expr"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
    }
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"]
            inner = query.removeprefix("label_values(").rsplit(",", 1)[0]
            found[f"${variable['name']}"] = inner
    return found


def as_promql(expr: str) -> str:
    """A dashboard query with Grafana's variables replaced by what they stand for."""
    return (
        expr.replace("$__rate_interval", "5m").replace("$job", "callvisor").replace("$instance", ".*")
    )


def kubernetes_documents() -> list[dict[str, Any]]:
    documents = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        documents.extend(doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc)
    return documents


def kubernetes_object(kind: str, name: str = "callvisor") -> dict[str, Any]:
    matching = [d for d in kubernetes_documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matching) == 1, f"deploy/kubernetes/ should hold one {kind} {name}, holds {len(matching)}"
    return matching[0]
