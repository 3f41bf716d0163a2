"""Datadog under faults: down, 500, 429 + Retry-After, a 10 s stall. Nothing raises, drops count."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult, MetricsData

from otelperf.exporters.datadog import (
    DatadogAlertSink,
    DatadogDeliveryError,
    DatadogMetricExporter,
)
from tests.exporters.test_datadog import KEY, make_alert
from tests.vendors.pipeline import pipeline
from tests.vendors.server import STALL, Reply, VendorServer, closed_port, vendor_server
from tests.vendors.timing import cost_during


@pytest.fixture
def server() -> Iterator[VendorServer]:
    with vendor_server() as srv:
        yield srv


def batch() -> MetricsData:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    provider.get_meter("t").create_counter("requests").add(1)
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    return data


def exporter(host: str, **kwargs: object) -> DatadogMetricExporter:
    options: dict[str, object] = {"timeout_s": 2.0, "retries": 3, "backoff_s": 0.05}
    options.update(kwargs)
    return DatadogMetricExporter(api_key=KEY, host=host, environ={}, **options)  # type: ignore[arg-type]


def timed_export(target: DatadogMetricExporter) -> tuple[MetricExportResult, float]:
    start = time.monotonic()
    result = target.export(batch())
    return result, time.monotonic() - start


class TestDatadogFaults:
    def test_endpoint_down_fails_within_deadline(self) -> None:
        """A refused connection is retried, then FAILURE before the deadline; drops counted."""
        target = exporter(f"http://127.0.0.1:{closed_port()}")
        result, took_s = timed_export(target)
        assert result is MetricExportResult.FAILURE
        assert took_s < 2.5
        assert target.drops.counts() == {"connection_error": 1}

    def test_500_is_retried_until_accepted(self, server: VendorServer) -> None:
        """A 500 then a 202: two requests, SUCCESS, nothing dropped."""
        server.replies.append(Reply(500))
        target = exporter(server.base_url)
        result, _ = timed_export(target)
        assert result is MetricExportResult.SUCCESS
        assert len(server.requests) == 2
        assert target.drops.total == 0

    def test_persistent_500_gives_up_after_the_retries(self, server: VendorServer) -> None:
        """Always 500: 1 + retries requests, FAILURE, the series counted as http_500 drops."""
        server.default = Reply(500)
        target = exporter(server.base_url, retries=2)
        result, _ = timed_export(target)
        assert result is MetricExportResult.FAILURE
        assert len(server.requests) == 3
        assert target.drops.counts() == {"http_500": 1}

    def test_429_waits_for_retry_after(self, server: VendorServer) -> None:
        """429 with Retry-After: 1 is honoured (the retry comes >= 1 s later) and succeeds."""
        server.replies.append(Reply(429, {"Retry-After": "1"}))
        target = exporter(server.base_url, timeout_s=5.0)
        result, _ = timed_export(target)
        assert result is MetricExportResult.SUCCESS
        first, second = server.requests
        assert second.at_s - first.at_s >= 0.95

    def test_429_beyond_the_deadline_fails_at_once(self, server: VendorServer) -> None:
        """A Retry-After longer than the deadline ends the export now, not after a sleep."""
        server.replies.append(Reply(429, {"X-Ratelimit-Reset": "60"}))
        target = exporter(server.base_url)
        result, took_s = timed_export(target)
        assert result is MetricExportResult.FAILURE
        assert took_s < 1.0
        assert len(server.requests) == 1
        assert target.drops.counts() == {"http_429": 1}

    def test_stall_is_cut_by_the_deadline(self, server: VendorServer) -> None:
        """A server that holds the request 10 s: FAILURE at the 1 s deadline, as a timeout."""
        server.replies.extend([STALL] * 5)
        target = exporter(server.base_url, timeout_s=1.0)
        result, took_s = timed_export(target)
        assert result is MetricExportResult.FAILURE
        assert 0.9 < took_s < 2.0
        assert target.drops.counts() == {"timeout": 1}

    def test_app_thread_not_slowed_while_export_stalls(self, server: VendorServer) -> None:
        """Ending spans costs about the same while the metric export hangs on a stalled server."""
        server.replies.extend([STALL] * 5)
        target = exporter(server.base_url, timeout_s=2.0)
        with pipeline(target) as p:
            baseline_ns, during_ns, took_s = cost_during(p.tracer, p.collect)
        assert took_s >= 1.5  # the export really was stuck during the measurement
        assert during_ns < baseline_ns * 3 + 20_000, (baseline_ns, during_ns)
        assert target.drops.total >= 1

    def test_sink_raises_delivery_error_not_more(self, server: VendorServer) -> None:
        """The alert sink raises its own error (for the dispatcher to count), key not in it."""
        server.default = Reply(503)
        sink = DatadogAlertSink(
            api_key=KEY, host=server.base_url, timeout_s=1.0, retries=1, backoff_s=0.01, environ={}
        )
        with pytest.raises(DatadogDeliveryError, match="HTTP 503") as caught:
            sink.send(make_alert())
        assert KEY not in str(caught.value)
        assert sink.drops.counts() == {"http_503": 1}
        sink.close()
