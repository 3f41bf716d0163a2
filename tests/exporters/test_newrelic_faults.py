"""New Relic under faults: down, 500, 429 + Retry-After, a 10 s stall; nothing raises."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

from otelperf.exporters.newrelic import (
    NewRelicAlertSink,
    NewRelicDeliveryError,
    NewRelicSpanExporter,
)
from tests.exporters.test_datadog import make_alert
from tests.exporters.test_newrelic import KEY, finished_spans
from tests.vendors.pipeline import pipeline
from tests.vendors.server import STALL, Reply, VendorServer, closed_port, vendor_server
from tests.vendors.timing import cost_during


@pytest.fixture
def server(tmp_path: Path) -> Iterator[VendorServer]:
    with vendor_server(tls=True, tmp=tmp_path) as srv:
        yield srv


def exporter(server: VendorServer | None, **kwargs: object) -> NewRelicSpanExporter:
    options: dict[str, object] = {"timeout_s": 2.0, "retries": 3, "backoff_s": 0.05}
    options.update(kwargs)
    port = server.port if server else closed_port()
    ca = server.ca_file if server else None
    return NewRelicSpanExporter(
        key=KEY,
        host="127.0.0.1",
        port=port,
        ca_certs=ca,
        environ={},
        **options,  # type: ignore[arg-type]
    )


def timed_export(target: NewRelicSpanExporter) -> tuple[SpanExportResult, float]:
    spans = finished_spans()
    start = time.monotonic()
    result = target.export(spans)  # type: ignore[arg-type]
    return result, time.monotonic() - start


class TestNewRelicFaults:
    def test_endpoint_down_fails_within_deadline(self) -> None:
        """A refused connection is retried, then FAILURE before the deadline; spans counted."""
        target = exporter(None)
        result, took_s = timed_export(target)
        assert result is SpanExportResult.FAILURE
        assert took_s < 2.5
        assert target.drops.counts() == {"connection_error": 2}

    def test_500_is_retried_until_accepted(self, server: VendorServer) -> None:
        """A 500 then a 202: two requests, SUCCESS."""
        server.replies.append(Reply(500))
        target = exporter(server)
        result, _ = timed_export(target)
        assert result is SpanExportResult.SUCCESS
        assert len(server.requests) == 2
        assert target.drops.total == 0

    def test_persistent_500_gives_up_after_the_retries(self, server: VendorServer) -> None:
        """Always 500: 1 + retries requests, FAILURE, spans counted as http_500 drops."""
        server.default = Reply(500)
        target = exporter(server, retries=1)
        result, _ = timed_export(target)
        assert result is SpanExportResult.FAILURE
        assert len(server.requests) == 2
        assert target.drops.counts() == {"http_500": 2}

    def test_429_waits_for_retry_after(self, server: VendorServer) -> None:
        """429 with Retry-After: 1 is honoured, then the retry succeeds."""
        server.replies.append(Reply(429, {"Retry-After": "1"}))
        target = exporter(server, timeout_s=5.0)
        result, _ = timed_export(target)
        assert result is SpanExportResult.SUCCESS
        first, second = server.requests
        assert second.at_s - first.at_s >= 0.95

    def test_429_beyond_the_deadline_fails_at_once(self, server: VendorServer) -> None:
        """A Retry-After longer than the deadline ends the export at once."""
        server.replies.append(Reply(429, {"Retry-After": "120"}))
        target = exporter(server)
        result, took_s = timed_export(target)
        assert result is SpanExportResult.FAILURE
        assert took_s < 1.0
        assert target.drops.counts() == {"http_429": 2}

    def test_stall_is_cut_by_the_deadline(self, server: VendorServer) -> None:
        """A server that holds the request 10 s: FAILURE at the 1 s deadline, as a timeout."""
        server.replies.extend([STALL] * 5)
        target = exporter(server, timeout_s=1.0)
        result, took_s = timed_export(target)
        assert result is SpanExportResult.FAILURE
        assert 0.9 < took_s < 2.0
        assert target.drops.counts() == {"timeout": 2}

    def test_app_thread_not_slowed_while_export_stalls(self, server: VendorServer) -> None:
        """Ending spans costs about the same while the batch export hangs on a stalled server."""
        server.replies.append(STALL)  # the first batch stalls, the rest go through
        target = exporter(server, timeout_s=2.0)
        processor = BatchSpanProcessor(target, schedule_delay_millis=60_000)
        with pipeline(span_processors=(processor,)) as p:
            p.emit("GET /warm", [1.0])

            def export_now() -> None:
                processor.force_flush(10_000)

            baseline_ns, during_ns, took_s = cost_during(p.tracer, export_now)
        assert took_s >= 1.5  # the export really was stuck during the measurement
        assert during_ns < baseline_ns * 3 + 20_000, (baseline_ns, during_ns)
        assert target.drops.counts().get("timeout", 0) >= 1

    def test_sink_raises_delivery_error_not_more(self, server: VendorServer) -> None:
        """The alert sink raises its own error (the key is not in it) and counts the drop."""
        server.default = Reply(503)
        sink = NewRelicAlertSink(
            key=KEY,
            account_id="42",
            host="127.0.0.1",
            port=server.port,
            ca_certs=server.ca_file,
            timeout_s=1.0,
            retries=1,
            backoff_s=0.01,
            environ={},
        )
        with pytest.raises(NewRelicDeliveryError, match="HTTP 503") as caught:
            sink.send(make_alert())
        assert KEY not in str(caught.value)
        assert sink.drops.counts() == {"http_503": 1}
        sink.close()
