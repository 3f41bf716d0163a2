"""New Relic: the pure mapping, and newrelic-telemetry-sdk against a loopback TLS intake."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricsData,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otelperf import _exporters
from otelperf._errors import ConfigError
from otelperf.alerts import parse_alert_sinks
from otelperf.exporters._histograms import DeltaState
from otelperf.exporters._newrelic_map import (
    EVENT_TYPE,
    to_newrelic_event,
    to_newrelic_metrics,
    to_newrelic_spans,
)
from otelperf.exporters.newrelic import (
    NewRelicAlertSink,
    NewRelicMetricExporter,
    NewRelicSpanExporter,
)
from tests.exporters.test_datadog import make_alert
from tests.vendors.pipeline import durations, pipeline
from tests.vendors.server import VendorServer, vendor_server

KEY = "nr-secret-license-key-NRAL0123456789"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[VendorServer]:
    """A TLS server whose certificate a throw-away trustme CA signed (no verification off)."""
    with vendor_server(tls=True, tmp=tmp_path) as srv:
        yield srv


def nr(server: VendorServer) -> dict[str, object]:
    return {"key": KEY, "host": "127.0.0.1", "port": server.port, "ca_certs": server.ca_file}


def finished_spans() -> list[object]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("lib", "2.0")
    with tracer.start_as_current_span("GET /a", kind=trace.SpanKind.SERVER, start_time=10**18):
        child = tracer.start_span(
            "db", attributes={"db.system": "sqlite", "tags": ["a", "b"]}, start_time=10**18
        )
        child.set_status(trace.StatusCode.ERROR, "locked")
        child.end(end_time=10**18 + 5_000_000)
    provider.shutdown()
    return list(memory.get_finished_spans())


class TestNewRelicMapping:
    def test_spans_carry_ids_duration_parent_and_error(self) -> None:
        """Trace API items: ids in hex, ms timestamps, parent.id, error, resource in common."""
        [(common, items)] = to_newrelic_spans(finished_spans())  # type: ignore[arg-type]
        assert common["attributes"]["service.name"] == "shop"
        child, root = items
        assert child["attributes"]["name"] == "db"
        assert child["attributes"]["duration.ms"] == 5.0
        assert child["attributes"]["parent.id"] == root["id"]
        assert child["trace.id"] == root["trace.id"] and len(root["trace.id"]) == 32
        assert child["attributes"]["error"] is True
        assert child["attributes"]["otel.status_description"] == "locked"
        assert child["attributes"]["tags"] == "a,b"
        assert child["timestamp"] == 10**18 // 1_000_000
        assert root["attributes"]["duration.ms"] > 5.0
        assert root["attributes"]["span.kind"] == "server"
        assert root["attributes"]["otel.library.name"] == "lib"
        assert "parent.id" not in root["attributes"]

    def test_metrics_become_counts_summaries_and_percentiles(self) -> None:
        """Cumulative counter -> count deltas; exponential histogram -> summary + percentiles."""
        reader = InMemoryMetricReader(
            preferred_temporality={
                Counter: AggregationTemporality.CUMULATIVE,
                Histogram: AggregationTemporality.CUMULATIVE,
            },
            preferred_aggregation={Histogram: ExponentialBucketHistogramAggregation()},
        )
        provider = MeterProvider(metric_readers=[reader])
        meter = provider.get_meter("t")
        counter, histogram = meter.create_counter("orders"), meter.create_histogram("latency")
        deltas = DeltaState()
        counter.add(4)
        histogram.record(1.0)
        data = reader.get_metrics_data()
        assert isinstance(data, MetricsData)
        to_newrelic_metrics(data, deltas=deltas)
        counter.add(6)
        for value in (2.0, 4.0):
            histogram.record(value)
        data = reader.get_metrics_data()
        assert isinstance(data, MetricsData)
        [(_, items)] = to_newrelic_metrics(data, deltas=deltas)
        by_name: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            by_name.setdefault(str(item["name"]), []).append(item)
        [orders] = by_name["orders"]
        assert orders["type"] == "count" and orders["value"] == 6.0
        [summary] = by_name["latency"]
        assert summary["type"] == "summary"
        assert summary["value"]["count"] == 2
        assert summary["value"]["sum"] == pytest.approx(6.0)
        percentiles = {
            i["attributes"]["percentile"]: i["value"] for i in by_name["latency.percentiles"]
        }
        assert sorted(percentiles) == [50, 90, 95, 99, 99.9]
        assert percentiles[50] == pytest.approx(3.0, rel=0.01)
        provider.shutdown()

    def test_event_is_flat_with_event_type(self) -> None:
        """An alert is one flat OtelperfAlert event with the alert's fields."""
        alert = make_alert()
        event = to_newrelic_event(alert)
        assert event["eventType"] == EVENT_TYPE
        assert event["timestamp"] == alert.timestamp_ns // 1_000_000
        assert event["severity"] == "error"
        assert event["budget"] == "GET /users p99<250ms"
        assert event["trace.id"] == alert.trace_id
        assert event["fingerprint"] == alert.fingerprint
        assert event["host.name"] == "vm-1"
        assert all(not isinstance(v, (dict, list)) for v in event.values())


class TestNewRelicExporters:
    def test_spans_and_percentiles_reach_the_tls_intake(self, server: VendorServer) -> None:
        """Real SDK over verified TLS: span names and durations, and percentiles == stats()."""
        spans = NewRelicSpanExporter(**nr(server), environ={})  # type: ignore[arg-type]
        metrics = NewRelicMetricExporter(**nr(server), environ={})  # type: ignore[arg-type]
        with pipeline(metrics, span_processors=(SimpleSpanProcessor(spans),)) as p:
            p.emit("GET /users/{id}", durations(400))
            stats = p.stats("GET /users/{id}")
            assert p.collect()
        trace_requests = [r for r in server.requests if r.path == "/trace/v1"]
        assert trace_requests and all(r.headers["api-key"] == KEY for r in trace_requests)
        sent = [item for r in trace_requests for item in r.json()[0]["spans"]]
        assert len(sent) == 400
        assert {s["attributes"]["name"] for s in sent} == {"GET /users/{id}"}
        assert sorted(s["attributes"]["duration.ms"] for s in sent) == pytest.approx(
            sorted(durations(400)), abs=1e-6
        )
        metric_request = next(r for r in server.requests if r.path == "/metric/v1")
        [batch] = metric_request.json()
        assert batch["common"]["attributes"]["service.name"] == "shop"
        items = [i for i in batch["metrics"] if i["name"].startswith("otelperf.operation")]
        [summary] = [i for i in items if i.get("type") == "summary"]
        assert summary["value"]["count"] == stats.count == 400
        assert summary["value"]["max"] * 1e3 == pytest.approx(stats.max_ms, rel=1e-12)
        percentiles = {
            i["attributes"]["percentile"]: i["value"] * 1e3
            for i in items
            if i["name"] == "otelperf.operation.duration.percentiles"
        }
        assert percentiles[50] == pytest.approx(stats.p50_ms, rel=1e-12)
        assert percentiles[90] == pytest.approx(stats.p90_ms, rel=1e-12)
        assert percentiles[95] == pytest.approx(stats.p95_ms, rel=1e-12)
        assert percentiles[99] == pytest.approx(stats.p99_ms, rel=1e-12)
        assert percentiles[99.9] == pytest.approx(stats.p999_ms, rel=1e-12)
        assert {i["attributes"]["operation"] for i in items} == {"GET /users/{id}"}

    def test_untrusted_certificate_is_refused_not_retried(self, server: VendorServer) -> None:
        """Without the test CA the TLS handshake fails: FAILURE, no HTTP request, tls_error."""
        exporter = NewRelicSpanExporter(
            key=KEY, host="127.0.0.1", port=server.port, timeout_s=2.0, environ={}
        )
        assert exporter.export(finished_spans()) is SpanExportResult.FAILURE  # type: ignore[arg-type]
        assert server.requests == []
        assert exporter.drops.counts() == {"tls_error": 2}
        exporter.shutdown()

    def test_key_never_in_payload_or_logs(
        self, server: VendorServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The key travels only in the Api-Key header."""
        server.replies.append("stall")
        exporter = NewRelicSpanExporter(**nr(server), timeout_s=0.5, retries=0, environ={})  # type: ignore[arg-type]
        sink = NewRelicAlertSink(**nr(server), account_id="42", environ={})  # type: ignore[arg-type]
        with caplog.at_level("DEBUG"):
            exporter.export(finished_spans())  # type: ignore[arg-type]
            exporter.export(finished_spans())  # type: ignore[arg-type]
            sink.send(make_alert())
        sink.close()
        exporter.shutdown()
        assert len(server.requests) == 3
        assert all(KEY.encode() not in r.body for r in server.requests)
        assert KEY not in caplog.text
        assert exporter.drops.counts() == {"timeout": 2}

    def test_shutdown_is_idempotent_and_later_exports_fail(self, server: VendorServer) -> None:
        """After shutdown export returns FAILURE without a request."""
        exporter = NewRelicSpanExporter(**nr(server), environ={})  # type: ignore[arg-type]
        exporter.shutdown()
        exporter.shutdown()
        assert exporter.export(finished_spans()) is SpanExportResult.FAILURE  # type: ignore[arg-type]
        assert server.requests == []

    def test_standard_entry_points_build_both_exporters(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """OTEL_TRACES_EXPORTER=otlp,newrelic: the names the SDK configurator resolves exist."""
        monkeypatch.setenv("NEW_RELIC_LICENSE_KEY", KEY)
        [span_ep] = entry_points(group="opentelemetry_traces_exporter", name="newrelic")
        [metric_ep] = entry_points(group="opentelemetry_metrics_exporter", name="newrelic")
        assert isinstance(span_ep.load()(), NewRelicSpanExporter)
        assert isinstance(metric_ep.load()(), NewRelicMetricExporter)
        found = _exporters.span_exporters(("otlp", "newrelic"), os.environ)
        assert [type(e).__name__ for e in found] == ["OTLPSpanExporter", "NewRelicSpanExporter"]
        for exporter in found:
            exporter.shutdown()


class TestNewRelicConcurrency:
    def test_threads_ending_spans_all_arrive(self, server: VendorServer) -> None:
        """4 threads x 250 spans through a BatchSpanProcessor: all 1000 reach the intake."""
        exporter = NewRelicSpanExporter(**nr(server), environ={})  # type: ignore[arg-type]
        processor = BatchSpanProcessor(exporter, schedule_delay_millis=50)
        with pipeline(span_processors=(processor,)) as p:
            workers = [
                threading.Thread(target=p.emit, args=(f"op{i}", [1.0] * 250)) for i in range(4)
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        sent = [s for r in server.requests if r.path == "/trace/v1" for s in r.json()[0]["spans"]]
        assert len(sent) == 1000
        assert {s["attributes"]["name"] for s in sent} == {"op0", "op1", "op2", "op3"}
        assert exporter.drops.total == 0

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_forked_child_sends_on_its_own_tls_connection(self, server: VendorServer) -> None:
        """After fork the child rebuilds its client (no shared TLS socket) and its spans arrive."""
        exporter = NewRelicSpanExporter(**nr(server), environ={})  # type: ignore[arg-type]
        assert exporter.export(finished_spans()) is SpanExportResult.SUCCESS  # type: ignore[arg-type]
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            ok = exporter.export(finished_spans()) is SpanExportResult.SUCCESS  # type: ignore[arg-type]
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert len([r for r in server.requests if r.path == "/trace/v1"]) == 2
        exporter.shutdown()


class TestNewRelicAlertSink:
    def test_event_reaches_the_account_path(self, server: VendorServer) -> None:
        """The sink posts the event to /v1/accounts/<id>/events with the alert's fields."""
        sink = NewRelicAlertSink(**nr(server), account_id="42", environ={})  # type: ignore[arg-type]
        alert = make_alert(severity="resolved")
        sink.send(alert)
        sink.close()
        [request] = server.requests
        assert request.path == "/v1/accounts/42/events"
        [event] = request.json()
        assert event["eventType"] == "OtelperfAlert"
        assert event["severity"] == "resolved"
        assert event["title"] == alert.title
        assert event["service.name"] == "shop"

    def test_named_in_alerts_setting(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """alerts='newrelic' builds the real sink from the NEW_RELIC_* variables."""
        monkeypatch.setenv("NEW_RELIC_LICENSE_KEY", KEY)
        monkeypatch.setenv("NEW_RELIC_ACCOUNT_ID", "42")
        [sink] = parse_alert_sinks("newrelic", origin="OTELPERF_ALERTS")
        assert isinstance(sink, NewRelicAlertSink)
        sink.close()


class TestNewRelicConfig:
    def test_missing_extra_says_how_to_install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without newrelic-telemetry-sdk the error names the extra to install."""
        monkeypatch.setitem(sys.modules, "newrelic_telemetry_sdk", None)
        with pytest.raises(ConfigError) as caught:
            NewRelicSpanExporter(key=KEY, environ={})
        assert str(caught.value) == "exporter 'newrelic' needs: pip install 'otelperf[newrelic]'"

    def test_missing_key_names_the_variable(self) -> None:
        """Without a key the error names NEW_RELIC_LICENSE_KEY."""
        with pytest.raises(ConfigError, match="set NEW_RELIC_LICENSE_KEY"):
            NewRelicMetricExporter(environ={})

    def test_sink_needs_the_account_id(self) -> None:
        """The Event API path needs the account: the error names NEW_RELIC_ACCOUNT_ID."""
        with pytest.raises(ConfigError, match="set NEW_RELIC_ACCOUNT_ID"):
            NewRelicAlertSink(key=KEY, environ={})

    def test_unknown_region_is_refused(self) -> None:
        """NEW_RELIC_REGION is us or eu."""
        with pytest.raises(ConfigError, match="NEW_RELIC_REGION='mars': expected us or eu"):
            NewRelicSpanExporter(key=KEY, environ={"NEW_RELIC_REGION": "mars"})
