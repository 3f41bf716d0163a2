"""otelperf: an OpenTelemetry distribution that answers performance questions.

In-process latency percentiles over 100 % of traffic, performance budgets and SLOs checked
against them, sampling that keeps the traces worth keeping, and leak detection — all on top of
the OpenTelemetry SDK, exported through OTLP or vendor SDKs.

Usage::

    import otelperf
    otelperf.configure(service_name="shop")
    ...
    otelperf.shutdown()
"""

from otelperf._configure import Handle, configure, shutdown
from otelperf._errors import ConfigError

__all__ = ["ConfigError", "Handle", "configure", "shutdown"]
