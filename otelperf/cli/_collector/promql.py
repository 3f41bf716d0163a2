"""Metric names in PromQL queries, and the check that a Grafana dashboard uses known ones.

This is not a PromQL parser. It removes what cannot be a metric name (strings, label matchers,
ranges, grouping clauses, Grafana variables, numbers, keywords and function names) and keeps the
identifiers left over, which in valid PromQL are exactly the selected metric names.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from otelperf.cli._collector.problems import Problem

__all__ = ["check_dashboard", "dashboard_queries", "metric_names"]

_NAME_MATCHER = re.compile(r"""__name__\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_STRINGS = re.compile(r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`""")
_GRAFANA_VARIABLES = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]")
_BRACES = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_MODIFIERS = re.compile(r"\boffset\s+-?[\w.]+|@\s*[\w.()]+")
_IDENTIFIER = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "inf",
        "nan",
    }
)
_LABEL_VALUES = re.compile(r"\s*label_values\s*\((.*),\s*[a-zA-Z_]\w*\s*\)\s*", re.DOTALL)
_QUERY_RESULT = re.compile(r"\s*(?:query_result|metrics)\s*\((.*)\)\s*", re.DOTALL)


def metric_names(expr: str) -> set[str]:
    """Return the metric names a PromQL expression selects (Grafana variables allowed).

    >>> sorted(metric_names('sum by (le) (rate(http_seconds_bucket{job="$job"}[$__interval]))'))
    ['http_seconds_bucket']
    """
    names = {a or b for a, b in _NAME_MATCHER.findall(expr)}
    text = _STRINGS.sub('""', expr)
    text = _GRAFANA_VARIABLES.sub(" ", text)
    text = _BRACES.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _MODIFIERS.sub(" ", text)
    for match in _IDENTIFIER.finditer(text):
        identifier, call = match.group(1), match.group(2)
        if call is None and identifier.lower() not in _KEYWORDS:
            names.add(identifier)
    return {name for name in names if name}


def dashboard_queries(dashboard: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return ``(location, PromQL)`` for every panel target and query variable of a dashboard.

    Panels nested in rows are included. ``label_values(expr, label)`` and ``query_result(expr)``
    variables contribute ``expr``.
    """
    queries: list[tuple[str, str]] = []

    def walk(panels: object, prefix: str) -> None:
        if not isinstance(panels, list):
            return
        for i, panel in enumerate(panels):
            if not isinstance(panel, Mapping):
                continue
            for j, target in enumerate(panel.get("targets") or ()):
                expr = target.get("expr") if isinstance(target, Mapping) else None
                if isinstance(expr, str) and expr.strip():
                    queries.append((f"{prefix}[{i}].targets[{j}]", expr))
            walk(panel.get("panels"), f"{prefix}[{i}].panels")

    walk(dashboard.get("panels"), "panels")
    templating = dashboard.get("templating")
    variables = templating.get("list") if isinstance(templating, Mapping) else None
    for i, variable in enumerate(variables if isinstance(variables, list) else ()):
        if not isinstance(variable, Mapping) or variable.get("type") != "query":
            continue
        query = variable.get("query")
        if isinstance(query, Mapping):
            query = query.get("query")
        if not isinstance(query, str) or not query.strip():
            continue
        match = _LABEL_VALUES.fullmatch(query) or _QUERY_RESULT.fullmatch(query)
        if match:
            queries.append((f"templating.list[{i}]", match.group(1)))
        elif not re.fullmatch(r"\s*label_(?:values|names)\s*\(\s*\w*\s*\)\s*", query):
            queries.append((f"templating.list[{i}]", query))
    return queries


def check_dashboard(dashboard: object, known: Collection[str]) -> list[Problem]:
    """Report every query in a Grafana dashboard that selects a metric not in ``known``.

    Args:
        dashboard: The parsed dashboard JSON.
        known: Series names that exist in Prometheus (see ``metric_names.KNOWN_PROMETHEUS_NAMES``).
    """
    if not isinstance(dashboard, Mapping):
        return [Problem("", "expected a Grafana dashboard JSON object")]
    queries = dashboard_queries(dashboard)
    if not queries:
        return [Problem("panels", "no PromQL queries found", "warning")]
    return [
        Problem(
            where,
            f"query uses metric '{name}', which neither otelperf nor the span metrics connector "
            "sends to Prometheus",
        )
        for where, expr in queries
        for name in sorted(metric_names(expr) - set(known))
    ]
