"""Datadog: the pure mapping, and the real datadog-api-client against a loopback intake."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation
from opentelemetry.sdk.resources import Resource

from otelperf import _exporters
from otelperf._errors import ConfigError
from otelperf.alerts import Alert, parse_alert_sinks
from otelperf.exporters._datadog_map import COUNT, GAUGE, to_datadog_event, to_datadog_series
from otelperf.exporters._histograms import QUANTILES, DeltaState
from otelperf.exporters.datadog import DatadogAlertSink, DatadogMetricExporter
from tests.vendors.formats import series_by_name, tag_value
from tests.vendors.pipeline import durations, pipeline
from tests.vendors.server import VendorServer, vendor_server

KEY = "dd-secret-api-key-0123456789"


@pytest.fixture
def server() -> Iterator[VendorServer]:
    with vendor_server() as srv:
        yield srv


def make_alert(**changes: object) -> Alert:
    fields: dict[str, object] = dict(
        kind="budget",
        severity="error",
        service="shop",
        operation="GET /users",
        statistic="p99",
        budget="GET /users p99<250ms",
        actual=400.0,
        threshold=250.0,
        unit="ms",
        window_s=60.0,
        trace_id="0af7651916cd43dd8448eb211c80319c",
        resource={"service.name": "shop", "host.name": "vm-1", "service.version": "1.4"},
    )
    fields.update(changes)
    return Alert(**fields)  # type: ignore[arg-type]


def sdk_metrics(temporality: AggregationTemporality) -> tuple[MeterProvider, InMemoryMetricReader]:
    reader = InMemoryMetricReader(
        preferred_temporality={Histogram: temporality, **_counter_temporality(temporality)},
        preferred_aggregation={Histogram: ExponentialBucketHistogramAggregation()},
    )
    resource = Resource.create({"service.name": "shop", "host.name": "vm-1"})
    return MeterProvider(resource=resource, metric_readers=[reader]), reader


def _counter_temporality(temporality: AggregationTemporality) -> dict[type, AggregationTemporality]:
    from opentelemetry.sdk.metrics import Counter

    return {Counter: temporality}


def collect(reader: InMemoryMetricReader) -> MetricsData:
    data = reader.get_metrics_data()
    assert data is not None
    return data


class TestDatadogMapping:
    def test_cumulative_counter_becomes_count_deltas(self) -> None:
        """A cumulative counter is sent as the count added since the previous export."""
        provider, reader = sdk_metrics(AggregationTemporality.CUMULATIVE)
        counter = provider.get_meter("t").create_counter("orders", unit="{order}")
        deltas = DeltaState()
        counter.add(5, {"region": "eu"})
        first = to_datadog_series(collect(reader), deltas=deltas)
        counter.add(3, {"region": "eu"})
        second = to_datadog_series(collect(reader), deltas=deltas)
        assert [s["points"][0]["value"] for s in first + second] == [5.0, 3.0]
        assert {s["type"] for s in first + second} == {COUNT}
        assert second[0]["tags"] == ["service:shop", "region:eu"]
        assert second[0]["resources"] == [{"name": "vm-1", "type": "host"}]
        assert "unit" not in second[0]
        provider.shutdown()

    def test_gauge_and_updown_counter_are_gauges_with_units(self) -> None:
        """Gauges and non-monotonic sums are gauges; OTel units map to Datadog unit names."""
        provider, reader = sdk_metrics(AggregationTemporality.CUMULATIVE)
        meter = provider.get_meter("t")
        meter.create_up_down_counter("process.memory.usage", unit="By").add(2048)
        meter.create_gauge("otelperf.budget.state").set(2, {"budget": "b"})
        found = {s["metric"]: s for s in to_datadog_series(collect(reader), deltas=DeltaState())}
        assert found["process.memory.usage"]["type"] == GAUGE
        assert found["process.memory.usage"]["unit"] == "byte"
        assert found["otelperf.budget.state"]["points"][0]["value"] == 2.0
        assert "budget:b" in found["otelperf.budget.state"]["tags"]
        provider.shutdown()

    @pytest.mark.parametrize(
        "temporality", [AggregationTemporality.DELTA, AggregationTemporality.CUMULATIVE]
    )
    def test_exponential_histogram_quantiles_are_per_interval(
        self, temporality: AggregationTemporality
    ) -> None:
        """Quantile gauges describe the values recorded since the previous export."""
        provider, reader = sdk_metrics(temporality)
        histogram = provider.get_meter("t").create_histogram("latency", unit="s")
        deltas = DeltaState()
        for value in (0.010, 0.020, 0.030):
            histogram.record(value)
        to_datadog_series(collect(reader), deltas=deltas)
        for value in (1.0, 2.0, 3.0, 4.0):
            histogram.record(value)
        found = series_by_name({"series": to_datadog_series(collect(reader), deltas=deltas)})
        assert found["latency.count"][0]["points"][0]["value"] == 4.0
        assert found["latency.sum"][0]["points"][0]["value"] == pytest.approx(10.0)
        quantiles = {
            tag_value(s["tags"], "quantile"): s["points"][0]["value"]
            for s in found["latency.quantile"]
        }
        assert sorted(str(q) for q in quantiles) == sorted(f"{q:g}" for q in QUANTILES)
        assert quantiles["0.5"] == pytest.approx(2.5, rel=0.01)
        assert all(s["unit"] == "second" for s in found["latency.quantile"])
        provider.shutdown()

    def test_event_groups_by_fingerprint_with_status_and_tags(self) -> None:
        """An alert is an alert event keyed by its fingerprint, with searchable tags."""
        alert = make_alert()
        event = to_datadog_event(alert, extra_tags=("team:web",))
        assert event["category"] == "alert"
        assert event["aggregation_key"] == alert.fingerprint
        assert event["attributes"]["status"] == "error"
        assert event["attributes"]["priority"] == "2"
        assert event["title"] == alert.title
        assert event["host"] == "vm-1"
        assert set(event["tags"]) >= {
            "service:shop",
            "version:1.4",
            "operation:GET /users",
            "budget:GET /users p99<250ms",
            "severity:error",
            "otelperf_kind:budget",
            "team:web",
        }
        assert event["attributes"]["custom"]["trace_id"] == alert.trace_id

    @pytest.mark.parametrize(
        ("severity", "status"),
        [("warning", "warn"), ("error", "error"), ("critical", "error"), ("resolved", "ok")],
    )
    def test_severity_maps_to_status(self, severity: str, status: str) -> None:
        """Each severity has its Datadog status; resolved closes the group with ok."""
        event = to_datadog_event(make_alert(severity=severity))
        assert event["attributes"]["status"] == status
        assert ("priority" in event["attributes"]) is (severity != "resolved")


class TestDatadogExporter:
    def test_percentiles_equal_otelperf_stats(self, server: VendorServer) -> None:
        """Spans through the real pipeline: the decoded quantile gauges equal otelperf.stats()."""
        exporter = DatadogMetricExporter(api_key=KEY, host=server.base_url, environ={})
        with pipeline(exporter) as p:
            p.emit("GET /users/{id}", durations(3000))
            stats = p.stats("GET /users/{id}")
            assert p.collect()
        request = next(r for r in server.requests if r.path == "/api/v2/series")
        assert request.headers["dd-api-key"] == KEY
        assert request.headers["content-encoding"] == "gzip"
        found = series_by_name(request.json())
        quantile = {
            tag_value(s["tags"], "quantile"): s["points"][0]["value"] * 1e3
            for s in found["otelperf.operation.duration.quantile"]
        }
        assert quantile["0.5"] == pytest.approx(stats.p50_ms, rel=1e-12)
        assert quantile["0.9"] == pytest.approx(stats.p90_ms, rel=1e-12)
        assert quantile["0.95"] == pytest.approx(stats.p95_ms, rel=1e-12)
        assert quantile["0.99"] == pytest.approx(stats.p99_ms, rel=1e-12)
        assert quantile["0.999"] == pytest.approx(stats.p999_ms, rel=1e-12)
        count = found["otelperf.operation.duration.count"][0]
        assert count["points"][0]["value"] == stats.count == 3000
        assert count["type"] == COUNT
        tags = count["tags"]
        assert {"service:shop", "env:test", "operation:GET /users/{id}"} <= set(tags)
        assert found["otelperf.operation.duration.max"][0]["points"][0]["value"] * 1e3 == (
            pytest.approx(stats.max_ms, rel=1e-12)
        )

    @pytest.mark.parametrize("compression", ["zstd1", "deflate", "none"])
    def test_other_encodings_decode_to_the_same_series(
        self, server: VendorServer, compression: str
    ) -> None:
        """zstd1/deflate/plain bodies carry the same series (the server decodes each)."""
        exporter = DatadogMetricExporter(
            api_key=KEY, host=server.base_url, compression=compression, environ={}
        )
        with pipeline(exporter) as p:
            p.emit("GET /", [1.0, 2.0, 3.0])
            assert p.collect()
        request = server.requests[0]
        assert request.headers.get("content-encoding", "none") == compression
        assert "otelperf.operation.duration.count" in series_by_name(request.json())

    def test_key_never_in_payload_or_logs(
        self, server: VendorServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The API key travels only in the DD-API-KEY header, never in bodies or our logs."""
        server.replies.extend(["stall"])  # the first export fails: its log line is checked too
        exporter = DatadogMetricExporter(
            api_key=KEY, host=server.base_url, timeout_s=0.5, retries=0, environ={}
        )
        sink = DatadogAlertSink(api_key=KEY, host=server.base_url, environ={})
        with caplog.at_level("DEBUG"), pipeline(exporter) as p:
            p.emit("GET /", [1.0])
            p.collect()
            sink.send(make_alert())
        sink.close()
        assert server.requests
        assert all(KEY.encode() not in r.body for r in server.requests)
        assert KEY not in caplog.text
        assert exporter.drops.total > 0
        assert KEY not in repr(exporter.drops.counts())

    def test_shutdown_is_idempotent_and_later_exports_fail(self, server: VendorServer) -> None:
        """After shutdown export returns FAILURE without a request; shutting down twice is fine."""
        exporter = DatadogMetricExporter(api_key=KEY, host=server.base_url, environ={})
        exporter.shutdown()
        exporter.shutdown()
        assert exporter.export(MetricsData(resource_metrics=[])) is MetricExportResult.FAILURE
        assert server.requests == []

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_forked_child_exports_on_its_own_connections(self, server: VendorServer) -> None:
        """After fork the child rebuilds its client and its export arrives."""
        exporter = DatadogMetricExporter(api_key=KEY, host=server.base_url, environ={})
        with pipeline(exporter) as p:
            p.emit("GET /parent", [1.0])
            assert p.collect()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                code = 1
                try:
                    p.emit("GET /child", [2.0])
                    code = 0 if p.collect() else 1
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        bodies = [r.json() for r in server.requests if r.path == "/api/v2/series"]
        operations = {tag_value(s["tags"], "operation") for body in bodies for s in body["series"]}
        assert {"GET /parent", "GET /child"} <= operations


class TestDatadogAlertSink:
    def test_event_arrives_with_text_and_tags(self, server: VendorServer) -> None:
        """The real client posts a v2 alert event with the alert's title, message and tags."""
        sink = DatadogAlertSink(api_key=KEY, host=server.base_url, environ={})
        alert = make_alert(severity="critical")
        sink.send(alert)
        sink.close()
        [request] = server.requests
        assert request.path == "/api/v2/events"
        assert request.headers["dd-api-key"] == KEY
        attributes = request.json()["data"]["attributes"]
        assert attributes["title"] == alert.title
        assert attributes["message"] == alert.message
        assert attributes["aggregation_key"] == alert.fingerprint
        assert attributes["attributes"]["status"] == "error"
        assert attributes["attributes"]["priority"] == "1"
        assert "severity:critical" in attributes["tags"]
        assert "budget:GET /users p99<250ms" in attributes["tags"]

    def test_named_in_alerts_setting(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """alerts='datadog' builds the real sink from DD_API_KEY."""
        monkeypatch.setenv("DD_API_KEY", KEY)
        [sink] = parse_alert_sinks("datadog", origin="OTELPERF_ALERTS")
        assert isinstance(sink, DatadogAlertSink)
        sink.close()


class TestDatadogConfig:
    def test_missing_extra_says_how_to_install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without datadog-api-client the error names the extra to install."""
        monkeypatch.setitem(sys.modules, "datadog_api_client", None)
        with pytest.raises(ConfigError) as caught:
            DatadogMetricExporter(api_key=KEY, environ={})
        assert str(caught.value) == "exporter 'datadog' needs: pip install 'otelperf[datadog]'"

    def test_missing_key_names_the_variable(self) -> None:
        """Without a key the error names DD_API_KEY (and never shows a value)."""
        with pytest.raises(ConfigError, match="set DD_API_KEY"):
            DatadogMetricExporter(environ={})
        with pytest.raises(ConfigError, match=r"OTELPERF_ALERTS='datadog': .*DD_API_KEY"):
            parse_alert_sinks("datadog", origin="OTELPERF_ALERTS")

    def test_bad_site_is_refused(self) -> None:
        """DD_SITE must look like a Datadog site."""
        with pytest.raises(ConfigError, match="DD_SITE='not a site'"):
            DatadogMetricExporter(api_key=KEY, environ={"DD_SITE": "not a site"})

    def test_entry_point_name_builds_the_exporter(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """exporters=[..., 'datadog'] yields the metric exporter (and no span exporter)."""
        monkeypatch.setenv("DD_API_KEY", KEY)
        [(exporter, temporality, _)] = _exporters.metric_exporters(("datadog",), os.environ)
        assert isinstance(exporter, DatadogMetricExporter)
        assert temporality is not None and temporality[Histogram] is AggregationTemporality.DELTA
        assert _exporters.span_exporters(("datadog",), os.environ) == []
        exporter.shutdown()
