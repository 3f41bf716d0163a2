"""The metric table (``metric_names.py``) against the dashboard and against otelperf's real output.

The table is the contract between the code that emits metrics, Prometheus's name translation and
the Grafana dashboard. These tests hold it to both ends: every label a dashboard query groups by,
filters on or shows in a legend exists on the metric it queries, and every metric a real
``configure()`` sends over OTLP has the unit, instrument kind and attribute keys the table says.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

import otelperf
from otelperf._receiver import MetricPoint, OTLPReceiver
from otelperf.cli._collector import (
    EXPORTED_METRICS,
    ExportedMetric,
    dashboard_queries,
    metric_names,
)

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "otelperf.json"

TABLE = {m.prometheus_name: m for m in EXPORTED_METRICS}
BY_OTEL_NAME = {m.otel_name: m for m in EXPORTED_METRICS}
# Target labels Prometheus's OTLP endpoint derives from the resource (service.namespace/service.name
# and service.instance.id), present on every series whatever the metric.
TARGET_LABELS = frozenset({"job", "instance"})

_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^()]*)\)")
_MATCHERS = re.compile(r"\{([^{}]*)\}")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)")
_LEGEND_LABEL = re.compile(r"\{\{\s*([a-zA-Z_]\w*)\s*\}\}")


def _panel_targets(panels: Iterable[Any]) -> Iterable[dict[str, Any]]:
    for panel in panels:
        yield from panel.get("targets") or ()
        yield from _panel_targets(panel.get("panels") or ())


def _labels_used(expr: str, legend: str = "") -> set[str]:
    """Labels an expression groups by, filters on, or a legend template shows."""
    used = {label.strip() for group in _GROUPING.findall(expr) for label in group.split(",")}
    for matchers in _MATCHERS.findall(expr):
        used.update(_MATCHER_LABEL.findall(matchers))
    used.update(_LEGEND_LABEL.findall(legend))
    return {label for label in used if label}


def _allowed(names: Collection[str]) -> set[str]:
    return set(TARGET_LABELS).union(*(TABLE[name].labels for name in names))


class TestDashboardLabels:
    def test_grouping_filter_and_legend_labels_exist_on_the_metric(self) -> None:
        """``by (...)``, ``without (...)``, ``{label=...}`` and ``{{label}}`` name real labels."""
        dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
        checked = 0
        for target in _panel_targets(dashboard["panels"]):
            expr, legend = str(target.get("expr", "")), str(target.get("legendFormat", ""))
            names = metric_names(expr)
            if not names:
                continue
            assert names <= TABLE.keys(), expr
            unknown = _labels_used(expr, legend) - _allowed(names)
            assert not unknown, f"{expr!r} uses labels {sorted(unknown)} the table lacks"
            checked += 1
        for where, expr in dashboard_queries(dashboard):
            if where.startswith("templating"):
                unknown = _labels_used(expr) - _allowed(metric_names(expr))
                assert not unknown, (where, expr)
        assert checked >= 15

    def test_the_label_check_catches_the_old_sampling_panel(self) -> None:
        """The query the dashboard had before (``by (decision, reason)``) is caught."""
        expr = "sum by (decision, reason) (rate(otelperf_sampling_decisions_total[5m]))"
        assert _labels_used(expr) - _allowed(metric_names(expr)) == {"decision"}


def _prometheus_label(attribute: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", attribute)


def _kind(point: MetricPoint) -> str:
    if point.type == "sum":
        return "counter" if point.is_monotonic else "updowncounter"
    return point.type


# Dashboard metrics a short test cannot produce, and why (none at present: keep the reason here if
# one ever has to be listed).
NOT_PRODUCIBLE_IN_A_SHORT_TEST: dict[str, str] = {}


@pytest.mark.usefixtures("fresh_globals")
class TestEmittedMetricsMatchTheTable:
    def test_every_otelperf_metric_has_the_tables_unit_kind_and_attributes(
        self, monkeypatch: pytest.MonkeyPatch, otlp_receiver: OTLPReceiver
    ) -> None:
        """A fully switched-on configure() sends only metrics the table describes, as described.

        Budgets (latency and SLO), head sampling 0.5 with in-process tail sampling, a fast memory
        sampler and a short open-span limit make every otelperf instrument report; the metrics go
        over real OTLP/gRPC to a receiver on 127.0.0.1.
        """
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.grpc_endpoint)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "200")
        otelperf.configure(
            service_name="metric-table",
            budgets="GET /slow p95<1ms; GET /slow 99%<1ms over 30d",
            sample_ratio=0.5,
            tail_sampling="on",
            memory_interval_s=0.1,
            span_leak_after_s=0.2,
        )
        tracer = trace.get_tracer("metric-table")
        stuck = tracer.start_span("GET /stuck")  # open past span_leak_after_s
        for i in range(60):
            with tracer.start_as_current_span("GET /slow") as span:
                time.sleep(0.002)
                if i % 10 == 0:
                    span.set_status(Status(StatusCode.ERROR))
        wanted = {m.otel_name for m in EXPORTED_METRICS if m.source == "otelperf"}
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline:
            if wanted <= {p.name for p in otlp_receiver.metrics()}:
                break
            time.sleep(0.2)
        stuck.end()
        assert otelperf.shutdown()

        points = [
            p for p in otlp_receiver.metrics() if p.name.startswith(("otelperf.", "process."))
        ]
        seen: dict[str, ExportedMetric] = {}
        for point in points:
            row = BY_OTEL_NAME.get(point.name)
            assert row is not None, f"{point.name} is emitted but missing from the table"
            assert (point.unit, _kind(point)) == (row.unit, row.kind), point.name
            labels = {_prometheus_label(key) for key in point.attributes}
            assert labels == set(row.labels), (point.name, sorted(point.attributes))
            seen[point.name] = row
        emitted = {row.prometheus_name for row in seen.values()}
        dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
        queried = {
            name
            for _, expr in dashboard_queries(dashboard)
            for name in metric_names(expr)
            if TABLE[name].source == "otelperf"
        }
        assert queried - emitted == set(NOT_PRODUCIBLE_IN_A_SHORT_TEST), sorted(queried - emitted)
        assert wanted == set(seen), sorted(wanted - set(seen))
