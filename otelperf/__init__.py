"""otelperf: an OpenTelemetry distribution that answers performance questions.

In-process latency percentiles over 100 % of traffic, on top of the OpenTelemetry SDK, exported
through OTLP as exponential histograms.

Usage::

    import otelperf

    otelperf.configure(service_name="shop", sample_ratio=0.1, budgets="GET /users p99<250ms")
    ...
    otelperf.stats("GET /users").p99_ms
    otelperf.budget_report()
    otelperf.report(format="html", path="perf.html")
    otelperf.shutdown()
"""

from otelperf._configure import Handle, configure, shutdown
from otelperf._errors import ConfigError
from otelperf._report import budget_report
from otelperf._stats import stats
from otelperf._track import track
from otelperf.aggregates import OperationStats
from otelperf.report import report

__all__ = [
    "ConfigError",
    "Handle",
    "OperationStats",
    "budget_report",
    "configure",
    "report",
    "shutdown",
    "stats",
    "track",
]
