"""What the deployment kit's PromQL expressions ask of callvisor's /metrics.

``selectors(expr)`` reads every series selector of an expression: the metric it names and its
equality matchers (``label="value"``).  It is a reader, not a parser: strings, ranges, function
names, keywords and the label lists of ``by``/``without``/``on``/``ignoring``/``group_left``/
``group_right`` are skipped; whatever else is an identifier names a metric.  ``promtool check
rules`` parses the same expressions in earnest (tests/deploy/test_deploy_prometheus.py).
"""

from __future__ import annotations

import re

from attrs import frozen

_TOKEN = re.compile(
    r"""(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')"""
    r"|(?P<braces>\{[^}]*\})"
    r"|(?P<range>\[[^\]]*\])"
    r"|(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)"
    r"|(?P<number>[0-9][0-9.eE+]*[a-z]*)"
    r"|(?P<other>\S)",
)
_MATCHER = re.compile(r"""([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)\"""")
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
    "topk", "quantile",
}  # followed by `by (...)` rather than by their `(`
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", *_AGGREGATIONS}


@frozen
class Selector:
    """One series selector: the metric and its ``=`` matchers (others, and any whose value is a
    dashboard variable, left out)."""

    metric: str
    matchers: tuple[tuple[str, str], ...]


def selectors(expr: str) -> list[Selector]:
    found: list[Selector] = []
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(expr)]
    index = 0
    while index < len(tokens):
        kind, text = tokens[index]
        index += 1
        if kind == "braces":  # a selector without a metric name: {__name__=...} is not used here
            raise ValueError(f"selector without a metric name in {expr!r}")
        if kind != "ident" or text in _KEYWORDS:
            continue
        following = tokens[index][1] if index < len(tokens) else ""
        if following == "(":
            if text in _GROUPING:  # skip the label list
                depth = 0
                while index < len(tokens):
                    depth += {"(": 1, ")": -1}.get(tokens[index][1], 0)
                    index += 1
                    if depth == 0:
                        break
            continue  # a function
        if text in _GROUPING:
            continue
        matchers: tuple[tuple[str, str], ...] = ()
        if index < len(tokens) and tokens[index][0] == "braces":
            block = tokens[index][1]
            matchers = tuple(
                (label, value) for label, op, value in _MATCHER.findall(block)
                if op == "=" and "$" not in value
            )
            index += 1
        found.append(Selector(text, matchers))
    return found
