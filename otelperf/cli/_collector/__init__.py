"""Offline checks of the fleet configuration: Collector configs, compose files, Grafana dashboards.

Pure functions over parsed documents; ``otelperf.cli.check_config`` is the command-line shell.
"""

from otelperf.cli._collector.catalog import PINNED_VERSION, Catalog, load_catalog
from otelperf.cli._collector.collector import check_collector_config
from otelperf.cli._collector.compose import check_compose, load_compose_schema
from otelperf.cli._collector.files import check_file, detect_kind
from otelperf.cli._collector.metric_names import (
    EXPORTED_METRICS,
    KNOWN_PROMETHEUS_NAMES,
    TRANSLATION_STRATEGY,
    ExportedMetric,
    prometheus_name,
)
from otelperf.cli._collector.problems import Problem
from otelperf.cli._collector.promql import check_dashboard, dashboard_queries, metric_names

__all__ = [
    "EXPORTED_METRICS",
    "KNOWN_PROMETHEUS_NAMES",
    "PINNED_VERSION",
    "TRANSLATION_STRATEGY",
    "Catalog",
    "ExportedMetric",
    "Problem",
    "check_collector_config",
    "check_compose",
    "check_dashboard",
    "check_file",
    "dashboard_queries",
    "detect_kind",
    "load_catalog",
    "load_compose_schema",
    "metric_names",
    "prometheus_name",
]
