"""Sentry under faults: down, 500, 429 + Retry-After, a 10 s stall. Nothing raises, drops count.

Spans (OTLP/HTTP) are retried within the deadline by the OTel exporter. Alert events follow
sentry-sdk's rules, which Sentry requires of its SDKs: no retries, and after a 429 nothing is
sent until Retry-After has passed; the sink reports each such loss by raising.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

from otelperf.exporters.sentry import SentryAlertSink, SentryDeliveryError, SentrySpanExporter
from tests.exporters.test_datadog import make_alert
from tests.exporters.test_newrelic import finished_spans
from tests.exporters.test_sentry import dsn_for
from tests.vendors.pipeline import pipeline
from tests.vendors.server import STALL, Reply, VendorServer, closed_port, vendor_server
from tests.vendors.timing import cost_during


@pytest.fixture
def server() -> Iterator[VendorServer]:
    with vendor_server() as srv:
        srv.default = Reply(200, {}, b"")
        yield srv


def timed_export(target: SentrySpanExporter) -> tuple[SpanExportResult, float]:
    spans = finished_spans()
    start = time.monotonic()
    result = target.export(spans)  # type: ignore[arg-type]
    return result, time.monotonic() - start


class TestSentrySpanFaults:
    def test_endpoint_down_fails_within_deadline(self) -> None:
        """Connection refused: FAILURE within the timeout, spans counted as dropped."""
        target = SentrySpanExporter(dsn=dsn_for(closed_port()), timeout_s=1.5, environ={})
        result, took_s = timed_export(target)
        assert result is SpanExportResult.FAILURE
        assert took_s < 2.0
        assert target.drops.counts() == {"export_failed": 2}

    def test_500_is_not_retried(self, server: VendorServer) -> None:
        """A 500 is final for OTLP (the spec retries 429, 502, 503, 504 only): FAILURE at once."""
        server.default = Reply(500)
        target = SentrySpanExporter(dsn=dsn_for(server.port), timeout_s=5.0, environ={})
        result, took_s = timed_export(target)
        assert result is SpanExportResult.FAILURE
        assert len(server.requests) == 1
        assert took_s < 1.0
        assert target.drops.counts() == {"export_failed": 2}

    def test_503_is_retried_until_accepted(self, server: VendorServer) -> None:
        """A 503 then a 200: the OTLP exporter retries, SUCCESS."""
        server.replies.append(Reply(503))
        target = SentrySpanExporter(dsn=dsn_for(server.port), timeout_s=5.0, environ={})
        result, _ = timed_export(target)
        assert result is SpanExportResult.SUCCESS
        assert len(server.requests) == 2

    def test_429_waits_for_retry_after(self, server: VendorServer) -> None:
        """429 with Retry-After: 1 is honoured, then the retry succeeds."""
        server.replies.append(Reply(429, {"Retry-After": "1"}))
        target = SentrySpanExporter(dsn=dsn_for(server.port), timeout_s=5.0, environ={})
        result, _ = timed_export(target)
        assert result is SpanExportResult.SUCCESS
        first, second = server.requests
        assert second.at_s - first.at_s >= 0.95

    def test_stall_is_cut_by_the_deadline(self, server: VendorServer) -> None:
        """A server that holds the request 10 s: FAILURE by the 1 s timeout."""
        server.replies.extend([STALL] * 5)
        target = SentrySpanExporter(dsn=dsn_for(server.port), timeout_s=1.0, environ={})
        result, took_s = timed_export(target)
        assert result is SpanExportResult.FAILURE
        assert took_s < 2.5
        assert target.drops.total == 2

    def test_app_thread_not_slowed_while_export_stalls(self, server: VendorServer) -> None:
        """Ending spans costs about the same while the span export hangs on a stalled server."""
        server.replies.append(STALL)
        target = SentrySpanExporter(dsn=dsn_for(server.port), timeout_s=2.0, environ={})
        processor = BatchSpanProcessor(target, schedule_delay_millis=60_000)
        with pipeline(span_processors=(processor,)) as p:
            p.emit("GET /warm", [1.0])
            baseline_ns, during_ns, took_s = cost_during(
                p.tracer, lambda: processor.force_flush(10_000)
            )
        assert took_s >= 1.5
        assert during_ns < baseline_ns * 3 + 20_000, (baseline_ns, during_ns)
        assert target.drops.total >= 1


class TestSentrySinkFaults:
    def sink(self, port: int, timeout_s: float = 2.0) -> SentryAlertSink:
        return SentryAlertSink(dsn=dsn_for(port), timeout_s=timeout_s, environ={})

    def test_500_raises_and_counts(self, server: VendorServer) -> None:
        """A 500 is not retried (sentry-sdk's rule): the sink raises, the drop is counted."""
        server.default = Reply(500)
        sink = self.sink(server.port)
        with pytest.raises(SentryDeliveryError, match="status_500"):
            sink.send(make_alert())
        assert sink.drops.counts()["status_500"] >= 1
        sink.close()

    def test_endpoint_down_raises(self) -> None:
        """Connection refused: the sink raises within its timeout."""
        sink = self.sink(closed_port())
        start = time.monotonic()
        with pytest.raises(SentryDeliveryError, match="network"):
            sink.send(make_alert())
        assert time.monotonic() - start < 2.5
        sink.close()

    def test_429_mutes_until_retry_after(self, server: VendorServer) -> None:
        """After a 429 the next alerts are dropped without a request (rate-limit backoff)."""
        server.default = Reply(429, {"Retry-After": "30"})
        sink = self.sink(server.port)
        for _ in range(2):
            with pytest.raises(SentryDeliveryError):
                sink.send(make_alert())
        assert len(server.requests) == 1
        assert sink.drops.counts() == {"status_429": 1, "self_rate_limits": 1}
        sink.close()

    def test_stall_raises_after_the_timeout(self, server: VendorServer) -> None:
        """A stalled server: send gives up after its timeout and says so."""
        server.replies.extend([STALL] * 3)
        sink = self.sink(server.port, timeout_s=1.0)
        start = time.monotonic()
        with pytest.raises(SentryDeliveryError, match="did not answer within 1 s"):
            sink.send(make_alert())
        assert time.monotonic() - start < 2.0
        assert sink.drops.counts() == {"timeout": 1}
        sink.close()
