"""Sentry: DSN -> OTLP target, alert events, and the real sentry-sdk against loopback servers."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sentry_sdk.consts import VERSION, EndpointType
from sentry_sdk.utils import Dsn

from otelperf import _exporters
from otelperf._errors import ConfigError
from otelperf._receiver import OTLPReceiver, http_codec
from otelperf.alerts import parse_alert_sinks
from otelperf.exporters._sentry_map import otlp_traces_target, to_sentry_event
from otelperf.exporters.sentry import SentryAlertSink, SentrySpanExporter
from tests.exporters.test_datadog import make_alert
from tests.vendors.formats import parse_envelope
from tests.vendors.pipeline import durations, pipeline
from tests.vendors.server import Reply, VendorServer, vendor_server

PUBLIC, SECRET = "f00dpublickey1234", "5ecre7sentrysecret"
SENTRY_OTLP_PATH = "/api/42/integration/otlp/v1/traces/"


@pytest.fixture
def server() -> Iterator[VendorServer]:
    with vendor_server() as srv:
        srv.default = Reply(200, {}, b'{"id": "x"}')
        yield srv


def dsn_for(port: int, *, secret: bool = False) -> str:
    auth = f"{PUBLIC}:{SECRET}" if secret else PUBLIC
    return f"http://{auth}@127.0.0.1:{port}/42"


def events(server: VendorServer) -> list[dict[str, object]]:
    found = []
    for request in server.requests:
        _, items = parse_envelope(request.body)
        found += [item.json() for item in items if item.headers["type"] == "event"]
    return found


class TestSentryMapping:
    @pytest.mark.parametrize(
        "dsn",
        [
            "https://abc@o1.ingest.sentry.io/123",
            "http://abc:def@127.0.0.1:9000/7",
            "https://abc@sentry.example:8443/prefix/path/99",
        ],
    )
    def test_otlp_target_matches_the_sdk(self, dsn: str) -> None:
        """Our DSN parsing gives the URL and auth sentry-sdk's own Dsn gives (client aside)."""
        auth = Dsn(dsn).to_auth("otelperf/test")
        url, headers = otlp_traces_target(dsn, origin="SENTRY_DSN", client="otelperf/test")
        assert url == auth.get_api_url(EndpointType.OTLP_TRACES)
        assert headers == {"X-Sentry-Auth": auth.to_header()}

    @pytest.mark.parametrize(
        "dsn", ["not a dsn", "https://o1.ingest.sentry.io/1", "https://k@host/", "ftp://k@h/1"]
    )
    def test_bad_dsn_is_refused_without_echoing_it(self, dsn: str) -> None:
        """A malformed DSN raises ConfigError naming SENTRY_DSN but never showing the DSN."""
        with pytest.raises(ConfigError, match=r"^SENTRY_DSN: expected a Sentry DSN") as caught:
            otlp_traces_target(dsn, origin="SENTRY_DSN", client="c")
        assert dsn not in str(caught.value)

    def test_one_issue_per_budget_across_severities(self) -> None:
        """Warning, escalation and values change; the fingerprint (the issue) does not."""
        warning = to_sentry_event(make_alert(severity="warning", actual=300.0))
        critical = to_sentry_event(make_alert(severity="critical", actual=900.0))
        other = to_sentry_event(make_alert(operation="GET /orders"))
        assert warning["fingerprint"] == critical["fingerprint"] != other["fingerprint"]
        assert (warning["level"], critical["level"]) == ("warning", "fatal")

    def test_tags_context_and_release(self) -> None:
        """Tags for search, the whole alert as context, release from service.version."""
        alert = make_alert(budget="x" * 300 + "\nsecond line")
        event = to_sentry_event(alert)
        assert event["tags"]["service"] == "shop"
        assert event["tags"]["operation"] == "GET /users"
        assert event["tags"]["severity"] == "error"
        assert event["tags"]["otelperf.kind"] == "budget"
        assert len(event["tags"]["budget"]) == 200 and "\n" not in event["tags"]["budget"]
        assert event["contexts"]["otelperf"]["actual"] == 400.0
        assert event["contexts"]["otelperf"]["trace_id"] == alert.trace_id
        assert event["release"] == "1.4"
        assert event["server_name"] == "vm-1"
        assert event["message"] == alert.message


class TestSentrySpanExporter:
    def test_spans_reach_the_otlp_receiver_with_sentry_auth(
        self, monkeypatch: pytest.MonkeyPatch, otlp_receiver: OTLPReceiver
    ) -> None:
        """Real spans, via the DSN's OTLP endpoint, arrive with X-Sentry-Auth and durations."""
        # The receiver serves /v1/traces; Sentry's path is taught to it for this test.
        monkeypatch.setitem(http_codec.PATHS, SENTRY_OTLP_PATH, "traces")
        exporter = SentrySpanExporter(dsn=dsn_for(otlp_receiver.http_port), environ={})
        assert exporter.endpoint == f"{otlp_receiver.http_endpoint}{SENTRY_OTLP_PATH}"
        with pipeline(span_processors=(BatchSpanProcessor(exporter),)) as p:
            p.emit("GET /checkout", durations(20), error_every=10)
        assert otlp_receiver.wait_for_spans(20)
        spans = otlp_receiver.spans(name="GET /checkout")
        assert sorted(s.duration_ns / 1e6 for s in spans) == pytest.approx(
            sorted(durations(20)), abs=1e-6
        )
        assert sum(s.status_code == "ERROR" for s in spans) == 2
        assert spans[0].resource_attributes["service.name"] == "shop"
        [headers] = otlp_receiver.headers("traces")
        assert headers["x-sentry-auth"] == (
            f"Sentry sentry_key={PUBLIC}, sentry_version=7, sentry_client=sentry.python/{VERSION}"
        )

    def test_entry_point_reads_sentry_dsn(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """OTEL_TRACES_EXPORTER=otlp,sentry / exporters=[...]: built from SENTRY_DSN."""
        monkeypatch.setenv("SENTRY_DSN", "https://abc@o1.ingest.sentry.io/123")
        found = _exporters.span_exporters(("otlp", "sentry"), {})
        assert [type(e).__name__ for e in found] == ["OTLPSpanExporter", "SentrySpanExporter"]
        assert _exporters.metric_exporters(("sentry",), {}) == []
        for exporter in found:
            exporter.shutdown()

    def test_shutdown_is_idempotent_and_later_exports_fail(self) -> None:
        """After shutdown export returns FAILURE; a second shutdown is a no-op."""
        exporter = SentrySpanExporter(dsn="https://abc@o1.ingest.sentry.io/1", environ={})
        exporter.shutdown()
        exporter.shutdown()
        assert exporter.export([]).name == "FAILURE"


class TestSentryAlertSink:
    def test_alert_becomes_an_issue_event_in_a_brotli_envelope(self, server: VendorServer) -> None:
        """The envelope (br, as sentry-sdk sends when brotli is installed) holds the event."""
        sink = SentryAlertSink(dsn=dsn_for(server.port), environ={})
        alert = make_alert(severity="critical")
        sink.send(alert)
        sink.close()
        request = server.requests[0]
        assert request.path == "/api/42/envelope/"
        assert request.headers["content-encoding"] == "br"
        assert request.headers["x-sentry-auth"].startswith(f"Sentry sentry_key={PUBLIC},")
        [event] = events(server)
        assert event["fingerprint"] == ["otelperf", alert.fingerprint]
        assert event["level"] == "fatal"
        assert event["message"] == alert.message
        assert event["tags"] == {  # exactly ours: the application's Sentry scope is not mixed in
            "service": "shop",
            "severity": "critical",
            "otelperf.kind": "budget",
            "operation": "GET /users",
            "budget": "GET /users p99<250ms",
            "statistic": "p99",
        }

    def test_gzip_when_asked(self, server: VendorServer) -> None:
        """The SDK's gzip option works the same (the server decodes either)."""
        sink = SentryAlertSink(
            dsn=dsn_for(server.port),
            environ={},
            client_options={"_experiments": {"transport_compression_algo": "gzip"}},
        )
        sink.send(make_alert())
        sink.close()
        assert server.requests[0].headers["content-encoding"] == "gzip"
        assert len(events(server)) == 1

    def test_resolved_is_not_sent_unless_asked(self, server: VendorServer) -> None:
        """A resolved alert would re-open the issue: skipped by default, info when asked."""
        quiet = SentryAlertSink(dsn=dsn_for(server.port), environ={})
        quiet.send(make_alert(severity="resolved"))
        quiet.close()
        assert events(server) == []
        loud = SentryAlertSink(dsn=dsn_for(server.port), environ={}, send_resolved=True)
        loud.send(make_alert(severity="resolved"))
        loud.close()
        assert [e["level"] for e in events(server)] == ["info"]

    def test_dsn_never_in_payload_or_logs(
        self, server: VendorServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Neither the DSN nor its secret appears in bodies or in otelperf's logs."""
        dsn = dsn_for(server.port, secret=True)
        with caplog.at_level("DEBUG", logger="otelperf"):
            sink = SentryAlertSink(dsn=dsn, environ={})
            sink.send(make_alert())
            sink.close()
        assert server.requests
        for request in server.requests:
            assert dsn.encode() not in request.body
            assert SECRET.encode() not in request.body
        assert SECRET not in caplog.text and dsn not in caplog.text

    def test_named_in_alerts_setting(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """alerts='sentry' builds the real sink from SENTRY_DSN."""
        monkeypatch.setenv("SENTRY_DSN", "https://abc@o1.ingest.sentry.io/123")
        [sink] = parse_alert_sinks("sentry", origin="OTELPERF_ALERTS")
        assert isinstance(sink, SentryAlertSink)
        sink.close()


class TestSentryConfig:
    def test_missing_extra_says_how_to_install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without sentry-sdk the error names the extra to install."""
        monkeypatch.setitem(sys.modules, "sentry_sdk", None)
        with pytest.raises(ConfigError) as caught:
            SentrySpanExporter(dsn="https://abc@o1.ingest.sentry.io/1", environ={})
        assert str(caught.value) == "exporter 'sentry' needs: pip install 'otelperf[sentry]'"

    def test_missing_dsn_names_the_variable(self) -> None:
        """Without a DSN the error names SENTRY_DSN; through alerts= it also names the origin."""
        with pytest.raises(ConfigError, match="set SENTRY_DSN"):
            SentrySpanExporter(environ={})
        with pytest.raises(ConfigError, match=r"^OTELPERF_ALERTS='sentry': .*SENTRY_DSN"):
            parse_alert_sinks("sentry", origin="OTELPERF_ALERTS")

    def test_bad_dsn_is_refused_without_echoing_it(self) -> None:
        """A malformed SENTRY_DSN fails loudly at construction, without showing the value."""
        with pytest.raises(ConfigError, match=r"^SENTRY_DSN: expected a Sentry DSN") as caught:
            SentryAlertSink(environ={"SENTRY_DSN": "sekrit-not-a-dsn"})
        assert "sekrit" not in str(caught.value)
