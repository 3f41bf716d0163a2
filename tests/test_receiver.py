"""The OTLP receiver, driven by the real OpenTelemetry SDK exporters over real sockets."""

from __future__ import annotations

import gzip
import http.client
import ipaddress
import json
import socket
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]  # no stubs
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogramDataPoint,
    InMemoryMetricReader,
    MetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from otelperf._receiver import Fault, OTLPReceiver

# -- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as started:
        yield started


def finished_spans(count: int = 1, *, name: str = "work") -> Sequence[ReadableSpan]:
    """Real SDK spans, captured in memory, to hand to an exporter's export() directly."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "unit"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test-scope")
    for index in range(count):
        with tracer.start_as_current_span(name, attributes={"index": index}):
            pass
    provider.shutdown()
    return memory.get_finished_spans()


def grpc_span_exporter(
    receiver: OTLPReceiver, *, timeout_s: float = 2.0, **kwargs: Any
) -> GrpcSpanExporter:
    return GrpcSpanExporter(
        endpoint=receiver.grpc_endpoint, insecure=True, timeout=timeout_s, **kwargs
    )


def http_span_exporter(
    receiver: OTLPReceiver, *, timeout_s: float = 2.0, **kwargs: Any
) -> HttpSpanExporter:
    return HttpSpanExporter(endpoint=receiver.http_url("traces"), timeout=timeout_s, **kwargs)


def span_exporter(
    transport: str, receiver: OTLPReceiver, *, timeout_s: float = 2.0, **kwargs: Any
) -> SpanExporter:
    if transport == "grpc":
        return grpc_span_exporter(receiver, timeout_s=timeout_s, **kwargs)
    return http_span_exporter(receiver, timeout_s=timeout_s, **kwargs)


def export_once(exporter: SpanExporter, spans: Sequence[ReadableSpan]) -> SpanExportResult:
    try:
        return exporter.export(spans)
    finally:
        exporter.shutdown()


def post(
    receiver: OTLPReceiver, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    """A raw HTTP POST, returning status, lower-cased headers and body."""
    with closing(http.client.HTTPConnection(receiver.host, receiver.http_port, timeout=5)) as conn:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return (
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            response.read(),
        )


def loopback_listeners(port: int) -> list[bool]:
    """For each socket listening on ``port`` (per /proc/net/tcp*), whether it is loopback-only."""
    found: list[bool] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address_hex, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A = LISTEN
                continue
            raw = bytes.fromhex(address_hex)
            # The kernel prints each 32-bit word in host (little-endian) order.
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            address = ipaddress.ip_address(words)
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                found.append(address.ipv4_mapped.is_loopback)
            else:
                found.append(address.is_loopback)
    return found


OTLP_JSON_TRACE = {
    "resourceSpans": [
        {
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]
            },
            "scopeSpans": [
                {
                    "scope": {"name": "raw-json"},
                    "spans": [
                        {
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "eee19b7ec3c1b174",
                            "parentSpanId": "eee19b7ec3c1b173",
                            "name": "json-span",
                            "kind": 2,
                            "startTimeUnixNano": "1544712660000000000",
                            "endTimeUnixNano": "1544712661000000000",
                            "attributes": [
                                {"key": "n", "value": {"intValue": "7"}},
                                {
                                    "key": "tags",
                                    "value": {
                                        "arrayValue": {
                                            "values": [{"stringValue": "a"}, {"boolValue": True}]
                                        }
                                    },
                                },
                            ],
                            "status": {"code": 2, "message": "boom"},
                            "unknownFutureField": {"ignored": True},
                        }
                    ],
                }
            ],
        }
    ]
}


# -- lifecycle -------------------------------------------------------------------------------


class TestLifecycle:
    def test_binds_distinct_ephemeral_ports(self, receiver: OTLPReceiver) -> None:
        """Both servers pick free, distinct ports and report matching endpoints."""
        assert receiver.grpc_port > 0 and receiver.http_port > 0
        assert receiver.grpc_port != receiver.http_port
        assert receiver.grpc_endpoint == f"http://127.0.0.1:{receiver.grpc_port}"
        assert receiver.grpc_target == f"127.0.0.1:{receiver.grpc_port}"
        assert receiver.http_endpoint == f"http://127.0.0.1:{receiver.http_port}"
        assert receiver.http_url("metrics") == f"{receiver.http_endpoint}/v1/metrics"

    @pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp")
    def test_listens_on_loopback_only(self, receiver: OTLPReceiver) -> None:
        """The kernel lists both listening sockets on a loopback address, not a wildcard."""
        for port in (receiver.grpc_port, receiver.http_port):
            listeners = loopback_listeners(port)
            assert listeners and all(listeners), (port, listeners)

    def test_stop_is_idempotent_and_releases_the_ports(self) -> None:
        """stop() can be called twice, returns quickly, and nothing listens afterwards."""
        receiver = OTLPReceiver().start()
        ports = (receiver.grpc_port, receiver.http_port)
        started = time.monotonic()
        receiver.stop()
        receiver.stop()
        assert time.monotonic() - started < 3
        assert not receiver.running
        for port in ports:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=2).close()

    def test_start_is_idempotent(self, receiver: OTLPReceiver) -> None:
        """A second start() while running changes nothing."""
        ports = (receiver.grpc_port, receiver.http_port)
        assert receiver.start() is receiver
        assert (receiver.grpc_port, receiver.http_port) == ports

    def test_restart_serves_again_on_the_same_ports(self) -> None:
        """After stop(), start() rebinds the first ports, so exporters can recover."""
        with OTLPReceiver() as receiver:
            ports = (receiver.grpc_port, receiver.http_port)
            receiver.stop()
            failed = export_once(http_span_exporter(receiver, timeout_s=0.5), finished_spans())
            assert failed is SpanExportResult.FAILURE
            receiver.start()
            assert (receiver.grpc_port, receiver.http_port) == ports
            ok = export_once(http_span_exporter(receiver), finished_spans())
            assert ok is SpanExportResult.SUCCESS
            assert len(receiver.spans()) == 1

    def test_single_transport(self) -> None:
        """With grpc=False only HTTP is served and the gRPC address is unavailable."""
        with OTLPReceiver(grpc=False) as receiver:
            with pytest.raises(RuntimeError, match="gRPC is disabled"):
                _ = receiver.grpc_endpoint
            ok = export_once(http_span_exporter(receiver), finished_spans())
            assert ok is SpanExportResult.SUCCESS

    def test_port_in_use_fails_loudly_and_leaks_nothing(self) -> None:
        """A taken HTTP port raises OSError from start() and leaves the receiver stopped."""
        with closing(socket.socket()) as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            receiver = OTLPReceiver(http_port=taken.getsockname()[1])
            with pytest.raises(OSError):
                receiver.start()
            assert not receiver.running
            receiver.stop()

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"grpc": False, "http": False}, "at least one"),
            ({"http_port": 70000}, "http_port=70000"),
            ({"grpc_port": -1}, "grpc_port=-1"),
            ({"max_requests": 0}, "max_requests=0"),
            ({"max_body_bytes": 0}, "max_body_bytes=0"),
        ],
    )
    def test_rejects_bad_arguments(self, kwargs: dict[str, Any], message: str) -> None:
        """Constructor misuse raises ValueError naming the argument."""
        with pytest.raises(ValueError, match=message):
            OTLPReceiver(**kwargs)


# -- traces ----------------------------------------------------------------------------------


class TestTraces:
    @pytest.mark.parametrize("transport", ["grpc", "http"])
    def test_sdk_spans_are_decoded(self, receiver: OTLPReceiver, transport: str) -> None:
        """Spans from a real TracerProvider + BatchSpanProcessor arrive with all their fields."""
        provider = TracerProvider(
            resource=Resource.create({"service.name": f"svc-{transport}", "deployment": "test"})
        )
        provider.add_span_processor(BatchSpanProcessor(span_exporter(transport, receiver)))
        tracer = provider.get_tracer("scope-a", "1.2.3")
        with tracer.start_as_current_span(
            "parent", kind=SpanKind.SERVER, attributes={"http.route": "/users", "n": 3}
        ) as parent:
            with tracer.start_as_current_span("child", attributes={"ratio": 0.5, "ok": True}):
                pass
            parent.set_status(StatusCode.ERROR, "bad")
            parent.add_event("retry")
        provider.shutdown()  # flushes the batch

        assert receiver.wait_for_spans(2, timeout_s=5)
        by_name = {span.name: span for span in receiver.spans()}
        parent_record, child_record = by_name["parent"], by_name["child"]
        context = parent.get_span_context()
        assert parent_record.trace_id == format(context.trace_id, "032x")
        assert parent_record.span_id == format(context.span_id, "016x")
        assert parent_record.parent_span_id == ""
        assert child_record.parent_span_id == parent_record.span_id
        assert child_record.trace_id == parent_record.trace_id
        assert parent_record.kind == "SERVER" and child_record.kind == "INTERNAL"
        assert parent_record.status_code == "ERROR"
        assert parent_record.status_message == "bad"
        assert parent_record.event_names == ("retry",)
        assert parent_record.attributes == {"http.route": "/users", "n": 3}
        assert child_record.attributes == {"ratio": 0.5, "ok": True}
        assert parent_record.resource_attributes["service.name"] == f"svc-{transport}"
        assert parent_record.resource_attributes["deployment"] == "test"
        assert (parent_record.scope_name, parent_record.scope_version) == ("scope-a", "1.2.3")
        assert parent_record.start_unix_ns <= child_record.start_unix_ns
        assert parent_record.duration_ns >= child_record.duration_ns > 0
        assert {span.transport for span in receiver.spans()} == {transport}
        [request] = receiver.received("traces")
        assert request.transport == transport
        assert len(receiver.requests("traces")[0].resource_spans) == 1

    @pytest.mark.parametrize("transport", ["grpc", "http"])
    def test_exporter_headers_are_captured(self, receiver: OTLPReceiver, transport: str) -> None:
        """Auth headers given to the exporter are stored, lower-cased, with the request."""
        # grpcio rejects upper-case metadata keys client-side (INTERNAL "Invalid metadata").
        sentry_key = "x-sentry-auth" if transport == "grpc" else "X-Sentry-Auth"
        auth = {"api-key": "secret-1", sentry_key: "Sentry sentry_key=abc"}
        exporter = span_exporter(transport, receiver, headers=auth)
        assert export_once(exporter, finished_spans()) is SpanExportResult.SUCCESS
        [headers] = receiver.headers("traces")
        assert headers["api-key"] == "secret-1"
        assert headers["x-sentry-auth"] == "Sentry sentry_key=abc"
        assert "OTel-OTLP-Exporter-Python" in headers["user-agent"]

    @pytest.mark.parametrize(
        ("compression", "encoding"),
        [(HttpCompression.Gzip, "gzip"), (HttpCompression.Deflate, "deflate")],
    )
    def test_compressed_http_bodies_are_decoded(
        self, receiver: OTLPReceiver, compression: HttpCompression, encoding: str
    ) -> None:
        """The HTTP exporter's gzip and deflate bodies are inflated and decoded."""
        exporter = http_span_exporter(receiver, compression=compression)
        assert export_once(exporter, finished_spans(3)) is SpanExportResult.SUCCESS
        [request] = receiver.received("traces")
        assert request.content_encoding == encoding
        assert request.headers["content-encoding"] == encoding
        assert [span.attributes["index"] for span in receiver.spans()] == [0, 1, 2]

    def test_grpc_gzip_compression(self, receiver: OTLPReceiver) -> None:
        """gRPC message compression is handled transparently."""
        exporter = grpc_span_exporter(receiver, compression=grpc.Compression.Gzip)
        assert export_once(exporter, finished_spans(2)) is SpanExportResult.SUCCESS
        assert len(receiver.spans(transport="grpc")) == 2

    @pytest.mark.parametrize("gzipped", [False, True])
    def test_otlp_json_body_with_hex_ids(self, receiver: OTLPReceiver, gzipped: bool) -> None:
        """OTLP/JSON (hex ids, integer enums, unknown fields) is decoded; the reply is JSON."""
        body = json.dumps(OTLP_JSON_TRACE).encode()
        headers = {"Content-Type": "application/json"}
        if gzipped:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        status, reply_headers, reply = post(receiver, "/v1/traces", body, headers)
        assert status == 200
        assert reply_headers["content-type"] == "application/json"
        assert json.loads(reply) == {}
        [span] = receiver.spans()
        assert span.trace_id == "5b8efff798038103d269b633813fc60c"
        assert span.span_id == "eee19b7ec3c1b174"
        assert span.parent_span_id == "eee19b7ec3c1b173"
        assert span.kind == "SERVER"
        assert (span.status_code, span.status_message) == ("ERROR", "boom")
        assert span.attributes == {"n": 7, "tags": ("a", True)}
        assert span.resource_attributes == {"service.name": "json-svc"}
        assert span.duration_ns == 1_000_000_000
        assert receiver.received()[0].content_type == "application/json"

    @pytest.mark.parametrize(
        ("path", "body", "headers", "status"),
        [
            ("/v1/traces", b"\xff\xff\xff", {"Content-Type": "application/x-protobuf"}, 400),
            ("/v1/traces", b"[1, 2]", {"Content-Type": "application/json"}, 400),
            ("/v1/traces", b"{not json", {"Content-Type": "application/json"}, 400),
            ("/v1/traces", b"", {"Content-Type": "text/plain"}, 415),
            (
                "/v1/traces",
                b"x",
                {"Content-Type": "application/x-protobuf", "Content-Encoding": "br"},
                415,
            ),
            (
                "/v1/traces",
                gzip.compress(b"abc")[:-6],
                {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
                400,
            ),
            (
                "/v1/traces",
                gzip.compress(b"\x00" * 5000),
                {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
                413,
            ),
            ("/v1/traces", b"\x00" * 5000, {"Content-Type": "application/x-protobuf"}, 413),
        ],
    )
    def test_malformed_requests_are_rejected_and_counted(
        self, path: str, body: bytes, headers: dict[str, str], status: int
    ) -> None:
        """Bad bodies, encodings and sizes get a 4xx, are counted as rejected, and not stored."""
        with OTLPReceiver(grpc=False, max_body_bytes=4096) as receiver:
            got, reply_headers, reply = post(receiver, path, body, headers)
            assert got == status
            if reply_headers["content-type"] == "application/json":
                assert json.loads(reply)["message"]
            else:
                assert status_pb2.Status.FromString(reply).message
            [attempt] = receiver.attempts()
            assert attempt.outcome == "rejected" and attempt.detail.startswith(f"http {status}")
            assert receiver.received() == []

    def test_unknown_path_is_404(self, receiver: OTLPReceiver) -> None:
        """Paths other than /v1/{traces,metrics,logs} are not OTLP endpoints."""
        status, _, _ = post(receiver, "/v1/profiles", b"", {})
        assert status == 404
        assert receiver.attempts() == []

    def test_chunked_body_is_read(self, receiver: OTLPReceiver) -> None:
        """A chunked Transfer-Encoding body is reassembled before decoding."""
        payload = trace_service_pb2.ExportTraceServiceRequest()
        payload.resource_spans.add().scope_spans.add().spans.add(name="chunky")
        data = payload.SerializeToString()
        chunked = b"".join(
            b"%x\r\n%s\r\n" % (len(part), part) for part in (data[:5], data[5:]) if part
        )
        headers = {"Content-Type": "application/x-protobuf", "Transfer-Encoding": "chunked"}
        status, _, _ = post(receiver, "/v1/traces", chunked + b"0\r\n\r\n", headers)
        assert status == 200
        assert [span.name for span in receiver.spans()] == ["chunky"]


# -- metrics and logs ------------------------------------------------------------------------


def metric_provider(
    exporter: MetricExporter, *extra_readers: InMemoryMetricReader
) -> MeterProvider:
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
    return MeterProvider(
        metric_readers=[reader, *extra_readers],
        resource=Resource.create({"service.name": "metrics-svc"}),
        views=[
            View(
                instrument_name="latency",
                aggregation=ExponentialBucketHistogramAggregation(max_size=2, max_scale=0),
            ),
            View(
                instrument_name="latency.fine",
                aggregation=ExponentialBucketHistogramAggregation(),
            ),
        ],
    )


class TestMetrics:
    @pytest.mark.parametrize("transport", ["grpc", "http"])
    def test_exponential_histogram_and_counter(
        self, receiver: OTLPReceiver, transport: str
    ) -> None:
        """A downscaled exponential histogram and a counter arrive with exact buckets/values."""
        delta: dict[type, AggregationTemporality] = {
            Counter: AggregationTemporality.DELTA,
            Histogram: AggregationTemporality.DELTA,
        }
        exporter: MetricExporter
        if transport == "grpc":
            exporter = GrpcMetricExporter(endpoint=receiver.grpc_endpoint, insecure=True, timeout=2)
        else:
            exporter = HttpMetricExporter(
                endpoint=receiver.http_url("metrics"), timeout=2, preferred_temporality=delta
            )
        provider = metric_provider(exporter)
        meter = provider.get_meter("meter-a")
        histogram = meter.create_histogram("latency", unit="ms")
        for value in (0.0, 1.0, 2.0, 4.0):
            histogram.record(value, attributes={"route": "/x"})
        meter.create_counter("requests", unit="1").add(5, attributes={"code": 200})
        assert provider.force_flush(timeout_millis=5_000)
        provider.shutdown()

        # Cumulative export repeats the point at shutdown; delta sends it once.
        point = next(p for p in receiver.metrics(name="latency") if p.count)
        # Buckets (4**i, 4**(i+1)] at scale -1: 1 -> index -1; 2 and 4 -> index 0. Three
        # scale-0 buckets do not fit max_size=2, so the SDK must have downscaled once.
        assert point.type == "exponential_histogram"
        assert point.scale == -1
        assert point.zero_count == 1
        assert point.positive_offset == -1
        assert point.positive_bucket_counts == (1, 2)
        assert sum(point.negative_bucket_counts) == 0
        assert (point.count, point.sum, point.min, point.max) == (4, 7.0, 0.0, 4.0)
        assert point.unit == "ms" and point.attributes == {"route": "/x"}
        assert point.resource_attributes["service.name"] == "metrics-svc"
        assert point.scope_name == "meter-a" and point.transport == transport
        expected = "delta" if transport == "http" else "cumulative"
        assert point.temporality == expected
        counter = next(p for p in receiver.metrics(name="requests") if p.value)
        assert (counter.type, counter.value, counter.is_monotonic) == ("sum", 5, True)
        assert counter.temporality == expected
        assert counter.attributes == {"code": 200}

    def test_exponential_histogram_matches_the_sdk(self, receiver: OTLPReceiver) -> None:
        """A default-sized exponential histogram decodes to what the SDK itself aggregated."""
        memory = InMemoryMetricReader()
        exporter = GrpcMetricExporter(endpoint=receiver.grpc_endpoint, insecure=True, timeout=2)
        provider = metric_provider(exporter, memory)
        histogram = provider.get_meter("m").create_histogram("latency.fine")
        for value in (0.3, 1.7, 2.5, 13.0, 13.1, 250.0, 251.0, 9_000.5):
            histogram.record(value)
        data = memory.get_metrics_data()
        assert provider.force_flush(timeout_millis=5_000)
        provider.shutdown()

        assert data is not None
        [sdk_metric] = data.resource_metrics[0].scope_metrics[0].metrics
        [sdk_point] = sdk_metric.data.data_points
        assert isinstance(sdk_point, ExponentialHistogramDataPoint)
        [point] = receiver.metrics(name="latency.fine")[:1]
        assert point.scale == sdk_point.scale and 0 < point.scale <= 20
        assert point.positive_offset == sdk_point.positive.offset
        assert point.positive_bucket_counts == tuple(sdk_point.positive.bucket_counts)
        assert sum(point.positive_bucket_counts) == 8
        assert (point.count, point.sum) == (sdk_point.count, sdk_point.sum)
        assert (point.min, point.max) == (0.3, 9_000.5)

    def test_logs_are_stored_raw(self, receiver: OTLPReceiver) -> None:
        """The Logs Export RPC and /v1/logs both store the decoded request."""
        request = logs_service_pb2.ExportLogsServiceRequest(
            resource_logs=[
                ResourceLogs(
                    scope_logs=[
                        ScopeLogs(log_records=[LogRecord(body=AnyValue(string_value="hello"))])
                    ]
                )
            ]
        )
        with closing(grpc.insecure_channel(receiver.grpc_target)) as channel:
            stub = logs_service_pb2_grpc.LogsServiceStub(channel)  # type: ignore[no-untyped-call]
            stub.Export(request, timeout=5, metadata=(("api-key", "k"),))
        headers = {"Content-Type": "application/x-protobuf"}
        status, _, _ = post(receiver, "/v1/logs", request.SerializeToString(), headers)
        assert status == 200
        bodies = [
            r.resource_logs[0].scope_logs[0].log_records[0].body.string_value
            for r in receiver.requests("logs")
        ]
        assert bodies == ["hello", "hello"]
        assert [r.transport for r in receiver.received("logs")] == ["grpc", "http"]
        assert receiver.headers("logs")[0]["api-key"] == "k"
        assert receiver.spans() == [] and receiver.metrics() == []


# -- faults ----------------------------------------------------------------------------------


class TestFaults:
    def test_http_500_makes_the_exporter_fail(self, receiver: OTLPReceiver) -> None:
        """A 500 is not retried: export() returns FAILURE and nothing is stored."""
        receiver.set_fault(Fault(http_status=500))
        result = export_once(http_span_exporter(receiver, timeout_s=1), finished_spans())
        assert result is SpanExportResult.FAILURE
        assert [a.outcome for a in receiver.attempts()] == ["fault"]
        assert receiver.attempts()[0].detail == "http 500"
        assert receiver.spans() == []

    def test_grpc_unavailable_makes_the_exporter_fail(self, receiver: OTLPReceiver) -> None:
        """UNAVAILABLE with a short exporter timeout ends in FAILURE; attempts are counted."""
        receiver.set_fault(Fault(grpc_code=grpc.StatusCode.UNAVAILABLE))
        started = time.monotonic()
        result = export_once(grpc_span_exporter(receiver, timeout_s=0.5), finished_spans())
        assert result is SpanExportResult.FAILURE
        assert time.monotonic() - started < 2
        attempts = receiver.attempts()
        assert attempts and {a.outcome for a in attempts} == {"fault"}
        assert attempts[0].detail == "grpc UNAVAILABLE"
        assert receiver.spans() == []

    def test_http_429_sends_retry_after(self, receiver: OTLPReceiver) -> None:
        """A throttling fault answers 429 with the configured Retry-After header."""
        receiver.set_fault(Fault(http_status=429, retry_after_s=7))
        headers = {"Content-Type": "application/x-protobuf"}
        status, reply_headers, reply = post(receiver, "/v1/traces", b"", headers)
        assert status == 429
        assert reply_headers["retry-after"] == "7"
        assert status_pb2.Status.FromString(reply).code == 8  # RESOURCE_EXHAUSTED

    def test_http_exporter_honours_retry_after_then_recovers(self, receiver: OTLPReceiver) -> None:
        """With Retry-After: 0 the exporter retries at once (its own backoff is ~1 s)."""
        receiver.set_fault(Fault(http_status=429, retry_after_s=0, times=1))
        result = export_once(http_span_exporter(receiver, timeout_s=0.6), finished_spans())
        assert result is SpanExportResult.SUCCESS
        assert [a.outcome for a in receiver.attempts()] == ["fault", "stored"]
        assert receiver.fault is None  # times=1 used up
        assert len(receiver.spans()) == 1

    def test_grpc_retry_info_is_sent(self, receiver: OTLPReceiver) -> None:
        """RESOURCE_EXHAUSTED carries RetryInfo in both trailers a client may read."""
        fault = Fault(grpc_code=grpc.StatusCode.RESOURCE_EXHAUSTED, retry_after_s=1.25)
        receiver.set_fault(fault)
        with closing(grpc.insecure_channel(receiver.grpc_target)) as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
            with pytest.raises(grpc.RpcError) as raised:
                stub.Export(trace_service_pb2.ExportTraceServiceRequest(), timeout=5)
        error: Any = raised.value
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        trailers = dict(error.trailing_metadata())
        info = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
        assert (info.retry_delay.seconds, info.retry_delay.nanos) == (1, 250_000_000)
        status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
        assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
        assert status.details[0].Unpack(error_details_pb2.RetryInfo())

    def test_grpc_exporter_honours_retry_info_then_recovers(self, receiver: OTLPReceiver) -> None:
        """A 50 ms RetryInfo lets the exporter retry within a timeout its backoff would miss."""
        fault = Fault(grpc_code=grpc.StatusCode.RESOURCE_EXHAUSTED, retry_after_s=0.05, times=1)
        receiver.set_fault(fault)
        result = export_once(grpc_span_exporter(receiver, timeout_s=0.6), finished_spans())
        assert result is SpanExportResult.SUCCESS
        assert [a.outcome for a in receiver.attempts()] == ["fault", "stored"]

    @pytest.mark.parametrize("transport", ["grpc", "http"])
    def test_short_stall_delays_a_successful_export(
        self, receiver: OTLPReceiver, transport: str
    ) -> None:
        """A stall shorter than the exporter timeout delays the response, then stores."""
        receiver.set_fault(Fault(delay_s=0.3))
        started = time.monotonic()
        result = export_once(span_exporter(transport, receiver), finished_spans())
        assert result is SpanExportResult.SUCCESS
        assert time.monotonic() - started >= 0.3
        assert [a.outcome for a in receiver.attempts()] == ["stored"]

    @pytest.mark.parametrize("transport", ["grpc", "http"])
    def test_stall_past_the_timeout_fails_and_is_not_stored(
        self, receiver: OTLPReceiver, transport: str
    ) -> None:
        """When the client gives up during a stall, export fails and the request is abandoned."""
        receiver.set_fault(Fault(delay_s=0.6))
        exporter = span_exporter(transport, receiver, timeout_s=0.2)
        started = time.monotonic()
        assert export_once(exporter, finished_spans()) is SpanExportResult.FAILURE
        assert time.monotonic() - started < 0.6
        assert receiver.wait_for(
            lambda: any(a.outcome == "abandoned" for a in receiver.attempts()), timeout_s=3
        )
        assert "stored" not in {a.outcome for a in receiver.attempts()}
        assert receiver.spans() == []

    def test_drop_mid_response_body(self, receiver: OTLPReceiver) -> None:
        """The client reads a response head, then hits EOF mid-body; the exporter fails."""
        receiver.set_fault(Fault(http_drop="response_body"))
        with closing(http.client.HTTPConnection(receiver.host, receiver.http_port, timeout=5)) as c:
            c.request("POST", "/v1/traces", body=b"", headers={"Content-Length": "0"})
            response = c.getresponse()
            assert response.status == 200
            with pytest.raises(http.client.IncompleteRead):
                response.read()
        result = export_once(http_span_exporter(receiver, timeout_s=0.5), finished_spans())
        assert result is SpanExportResult.FAILURE
        assert {a.outcome for a in receiver.attempts()} == {"fault"}
        assert receiver.spans() == []

    def test_drop_mid_request_body(self, receiver: OTLPReceiver) -> None:
        """The connection closes while the request body is read; no response arrives."""
        receiver.set_fault(Fault(http_drop="request_body"))
        with pytest.raises(ConnectionError):
            post(receiver, "/v1/traces", b"\x00" * 200_000, {})
        result = export_once(http_span_exporter(receiver, timeout_s=0.5), finished_spans())
        assert result is SpanExportResult.FAILURE
        assert {a.outcome for a in receiver.attempts()} == {"fault"}
        assert receiver.spans() == []

    def test_clearing_the_fault_recovers(self, receiver: OTLPReceiver) -> None:
        """After clear_fault() the same exporter succeeds again."""
        exporter: SpanExporter = http_span_exporter(receiver, timeout_s=1)
        try:
            receiver.set_fault(Fault(http_status=500))
            assert exporter.export(finished_spans()) is SpanExportResult.FAILURE
            receiver.clear_fault()
            assert exporter.export(finished_spans()) is SpanExportResult.SUCCESS
        finally:
            exporter.shutdown()
        assert [a.outcome for a in receiver.attempts()] == ["fault", "stored"]
        assert len(receiver.spans()) == 1

    def test_fault_limited_to_signals(self, receiver: OTLPReceiver) -> None:
        """A fault for metrics only leaves trace exports alone."""
        receiver.set_fault(Fault(http_status=503, signals=frozenset({"metrics"})))
        result = export_once(http_span_exporter(receiver), finished_spans())
        assert result is SpanExportResult.SUCCESS
        assert receiver.fault is not None

    def test_http_only_fault_leaves_grpc_alone(self, receiver: OTLPReceiver) -> None:
        """Each knob acts on its own transport only."""
        receiver.set_fault(Fault(http_status=500))
        result = export_once(grpc_span_exporter(receiver), finished_spans())
        assert result is SpanExportResult.SUCCESS

    @pytest.mark.parametrize("transport", ["grpc", "http"])
    def test_stop_interrupts_a_stall(self, transport: str) -> None:
        """stop() releases a long stall at once instead of waiting for it."""
        receiver = OTLPReceiver().start()
        receiver.set_fault(Fault(delay_s=30))
        outcome: list[object] = []

        def send() -> None:
            if transport == "http":
                try:
                    post(receiver, "/v1/traces", b"", {"Content-Type": "application/x-protobuf"})
                except (ConnectionError, http.client.HTTPException) as error:
                    outcome.append(error)
                return
            with closing(grpc.insecure_channel(receiver.grpc_target)) as channel:
                stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
                try:
                    stub.Export(trace_service_pb2.ExportTraceServiceRequest(), timeout=10)
                except grpc.RpcError as error:
                    outcome.append(error)

        sender = threading.Thread(target=send, name="otelperf-test-sender", daemon=True)
        sender.start()
        assert receiver.wait_for(lambda: False, timeout_s=0.3) is False  # let it reach the stall
        started = time.monotonic()
        receiver.stop()
        assert time.monotonic() - started < 3
        sender.join(timeout=5)
        assert not sender.is_alive() and len(outcome) == 1
        assert [a.detail for a in receiver.attempts()] == ["receiver stopped during stall"]

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({}, "at least one"),
            ({"http_status": 200}, "400-599"),
            ({"grpc_code": grpc.StatusCode.OK}, "other than OK"),
            ({"http_status": 500, "http_drop": "request_body"}, "exclude each other"),
            ({"http_drop": "sideways"}, "request_body"),
            ({"delay_s": -1}, "delay_s"),
            ({"delay_s": 1, "retry_after_s": 1}, "needs http_status or grpc_code"),
            ({"http_status": 429, "retry_after_s": -1}, ">= 0"),
            ({"http_status": 500, "signals": frozenset({"spans"})}, "subset"),
            ({"http_status": 500, "times": 0}, "times"),
        ],
    )
    def test_invalid_fault_is_rejected(self, kwargs: dict[str, Any], message: str) -> None:
        """Fault validates its knobs on construction."""
        with pytest.raises(ValueError, match=message):
            Fault(**kwargs)


# -- storage ---------------------------------------------------------------------------------


class TestStorage:
    def test_wait_for_times_out_with_false(self, receiver: OTLPReceiver) -> None:
        """wait_for returns False once the timeout passes without the predicate holding."""
        started = time.monotonic()
        assert receiver.wait_for_spans(1, timeout_s=0.1) is False
        assert 0.1 <= time.monotonic() - started < 2

    def test_wait_for_wakes_on_arrival(self, receiver: OTLPReceiver) -> None:
        """A waiter wakes as soon as spans arrive from another thread."""
        spans = finished_spans(2)

        def later() -> None:
            time.sleep(0.2)  # lets the main thread block in wait_for first
            export_once(grpc_span_exporter(receiver), spans)

        sender = threading.Thread(target=later, name="otelperf-test-sender", daemon=True)
        sender.start()
        started = time.monotonic()
        assert receiver.wait_for_spans(2, timeout_s=10)
        assert time.monotonic() - started < 5
        sender.join(timeout=5)

    def test_clear_forgets_data_but_keeps_the_fault(self, receiver: OTLPReceiver) -> None:
        """clear() empties requests and attempts; an active fault stays active."""
        export_once(http_span_exporter(receiver), finished_spans())
        receiver.set_fault(Fault(http_status=503, signals=frozenset({"logs"})))
        receiver.clear()
        assert receiver.spans() == [] and receiver.attempts() == [] and receiver.headers() == []
        assert receiver.fault is not None

    def test_history_is_bounded(self) -> None:
        """Beyond max_requests the oldest requests are dropped and counted."""
        with OTLPReceiver(grpc=False, max_requests=2) as receiver:
            exporter: SpanExporter = http_span_exporter(receiver)
            try:
                for index in range(3):
                    assert exporter.export(finished_spans(name=f"s{index}"))
            finally:
                exporter.shutdown()
            assert [span.name for span in receiver.spans()] == ["s1", "s2"]
            assert receiver.dropped_requests == 1
            assert len(receiver.attempts()) == 2

    def test_concurrent_exports_all_arrive(self, receiver: OTLPReceiver) -> None:
        """8 threads x 5 exports over both transports: every span is stored exactly once."""
        threads_n, exports_n = 8, 5
        spans = finished_spans(3)

        def run(index: int) -> None:
            exporter = span_exporter("grpc" if index % 2 else "http", receiver)
            try:
                for _ in range(exports_n):
                    assert exporter.export(spans) is SpanExportResult.SUCCESS
            finally:
                exporter.shutdown()

        workers = [
            threading.Thread(target=run, args=(i,), name="otelperf-test-sender", daemon=True)
            for i in range(threads_n)
        ]
        for worker in workers:
            worker.start()
        assert receiver.wait_for_spans(threads_n * exports_n * 3, timeout_s=20)
        for worker in workers:
            worker.join(timeout=5)
        assert len(receiver.spans()) == threads_n * exports_n * 3
        assert len(receiver.received("traces", transport="grpc")) == threads_n // 2 * exports_n
        assert {a.outcome for a in receiver.attempts()} == {"stored"}

    def test_records_are_frozen(self, receiver: OTLPReceiver) -> None:
        """Span records and their attribute maps cannot be modified by a test."""
        export_once(http_span_exporter(receiver), finished_spans())
        [span] = receiver.spans()
        with pytest.raises(AttributeError):
            span.name = "other"  # type: ignore[misc]
        with pytest.raises(TypeError):
            span.attributes["index"] = 9  # type: ignore[index]

    def test_deflate_body_is_inflated(self, receiver: OTLPReceiver) -> None:
        """A zlib-wrapped deflate body posted by hand is decoded like the exporter's."""
        payload = trace_service_pb2.ExportTraceServiceRequest()
        payload.resource_spans.add().scope_spans.add().spans.add(name="deflated")
        headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "deflate"}
        status, _, _ = post(
            receiver, "/v1/traces", zlib.compress(payload.SerializeToString()), headers
        )
        assert status == 200
        assert [span.name for span in receiver.spans()] == ["deflated"]
