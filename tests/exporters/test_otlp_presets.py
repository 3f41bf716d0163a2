"""otlp_preset: a vendor's OTLP intake in one word, checked against the real loopback receiver."""

from __future__ import annotations

import urllib.parse
from importlib.metadata import version

import pytest
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otelperf import _exporters
from otelperf._errors import ConfigError
from otelperf._otlp_presets import otlp_preset_env, with_otlp_preset
from otelperf._receiver import OTLPReceiver, http_codec
from tests.vendors.pipeline import durations, pipeline

LICENSE = "nr-license-0123456789abcdefNRAL"
SENTRY_PATH = "/api/42/integration/otlp/v1/traces/"


class TestPresetVariables:
    def test_newrelic_sets_endpoint_key_and_temporality(self) -> None:
        """newrelic: US endpoint, api-key header, http/protobuf, gzip, delta, exponential."""
        env = otlp_preset_env("newrelic", {"NEW_RELIC_LICENSE_KEY": LICENSE})
        assert env == {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "https://otlp.nr-data.net",
            "OTEL_EXPORTER_OTLP_HEADERS": f"api-key={LICENSE}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta",
            "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION": (
                "base2_exponential_bucket_histogram"
            ),
        }

    def test_newrelic_eu_region(self) -> None:
        """NEW_RELIC_REGION=eu picks the EU endpoint."""
        env = otlp_preset_env(
            "newrelic", {"NEW_RELIC_LICENSE_KEY": LICENSE, "NEW_RELIC_REGION": "EU"}
        )
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "https://otlp.eu01.nr-data.net"

    def test_sentry_sets_traces_only(self) -> None:
        """sentry: the DSN's OTLP traces URL and X-Sentry-Auth, percent-encoded; no metrics."""
        env = otlp_preset_env("sentry", {"SENTRY_DSN": "https://abc@o1.ingest.sentry.io/77"})
        assert env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == (
            "https://o1.ingest.sentry.io/api/77/integration/otlp/v1/traces/"
        )
        name, _, value = env["OTEL_EXPORTER_OTLP_TRACES_HEADERS"].partition("=")
        assert name == "x-sentry-auth"
        assert urllib.parse.unquote(value) == (
            f"Sentry sentry_key=abc, sentry_version=7, sentry_client=otelperf/{version('otelperf')}"
        )
        assert not any("METRICS" in var for var in env)

    @pytest.mark.parametrize(
        ("name", "environ", "message"),
        [
            ("sentry", {}, "otlp_preset='sentry' needs SENTRY_DSN (your project's DSN)"),
            ("newrelic", {}, "otlp_preset='newrelic' needs NEW_RELIC_LICENSE_KEY"),
            ("datadog", {}, "otlp_preset='datadog': expected one of sentry, newrelic"),
            (
                "newrelic",
                {"NEW_RELIC_LICENSE_KEY": LICENSE, "NEW_RELIC_REGION": "ap"},
                "NEW_RELIC_REGION='ap': expected us or eu",
            ),
            (
                "sentry",
                {"SENTRY_DSN": "https://secretkey@host"},
                "SENTRY_DSN: expected a Sentry DSN such as https://<public key>@o0.ingest."
                "sentry.io/<project id> (the project id is missing)",
            ),
            (
                "newrelic",
                {"NEW_RELIC_LICENSE_KEY": LICENSE, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
                "OTEL_EXPORTER_OTLP_PROTOCOL='grpc': otlp_preset='newrelic' sends OTLP/HTTP; "
                "expected 'http/protobuf' or unset",
            ),
        ],
    )
    def test_errors_name_the_variable_not_the_secret(
        self, name: str, environ: dict[str, str], message: str
    ) -> None:
        """Each mistake is a ConfigError naming the variable; keys never appear in it."""
        with pytest.raises(ConfigError) as caught:
            with_otlp_preset(name, environ)
        assert str(caught.value) == message
        assert LICENSE not in message and "secretkey" not in message

    def test_user_values_win_and_headers_merge(self) -> None:
        """The user's endpoint stays; their headers are merged with the preset's key."""
        merged = with_otlp_preset(
            "newrelic",
            {
                "NEW_RELIC_LICENSE_KEY": LICENSE,
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
                "OTEL_EXPORTER_OTLP_HEADERS": "x-team=web",
            },
        )
        assert merged["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"
        assert merged["OTEL_EXPORTER_OTLP_HEADERS"] == f"api-key={LICENSE},x-team=web"
        assert with_otlp_preset(None, {"A": "b"}) == {"A": "b"}

    def test_sentry_keeps_a_grpc_metrics_pipeline(self) -> None:
        """Sentry covers traces only: a general grpc protocol (for metrics) is no conflict."""
        merged = with_otlp_preset(
            "sentry",
            {
                "SENTRY_DSN": "https://k@o1.ingest.sentry.io/5",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            },
        )
        assert merged["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] == "http/protobuf"

    def test_http_kwargs_follow_the_otlp_spec(self) -> None:
        """Per-signal variables win; a base endpoint gets /v1/<signal>; headers are decoded."""
        kwargs = _exporters.otlp_http_kwargs(
            "metrics",
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/",
                "OTEL_EXPORTER_OTLP_HEADERS": "a=1",
                "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "b=x%20y",
                "OTEL_EXPORTER_OTLP_TIMEOUT": "3",
            },
        )
        assert kwargs["endpoint"] == "http://collector:4318/v1/metrics"
        assert kwargs["headers"] == {"b": "x y"}
        assert kwargs["timeout"] == 3.0


class TestPresetsOnTheWire:
    def test_newrelic_spans_and_metrics_reach_the_receiver_with_api_key(
        self, otlp_receiver: OTLPReceiver
    ) -> None:
        """Spans and otelperf metrics arrive over OTLP/HTTP, gzip, api-key, delta temporality."""
        environ = {
            "NEW_RELIC_LICENSE_KEY": LICENSE,
            # What a user sets to reach New Relic through a proxy; here the loopback receiver.
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.http_endpoint,
        }
        [spans] = _exporters.span_exporters(("otlp",), environ, otlp_preset="newrelic")
        [metrics] = _exporters.metric_exporters(("otlp",), environ, otlp_preset="newrelic")
        with pipeline(metrics, span_processors=(BatchSpanProcessor(spans),)) as p:
            p.emit("GET /cart", durations(50))
            stats = p.stats("GET /cart")
            assert p.collect()
        assert otlp_receiver.wait_for_spans(50)
        for request in otlp_receiver.received():
            assert request.headers["api-key"] == LICENSE
            assert request.headers["content-encoding"] == "gzip"
            assert request.transport == "http"
        points = otlp_receiver.metrics(name="otelperf.operation.duration")
        assert points and points[0].temporality == "delta"
        assert points[0].count == stats.count == 50

    def test_sentry_spans_reach_the_dsn_endpoint_with_auth(
        self, monkeypatch: pytest.MonkeyPatch, otlp_receiver: OTLPReceiver
    ) -> None:
        """Spans go to /api/<project>/integration/otlp/v1/traces/ with X-Sentry-Auth."""
        monkeypatch.setitem(http_codec.PATHS, SENTRY_PATH, "traces")
        environ = {"SENTRY_DSN": f"http://pubkey@127.0.0.1:{otlp_receiver.http_port}/42"}
        [spans] = _exporters.span_exporters(("otlp",), environ, otlp_preset="sentry")
        with pipeline(span_processors=(BatchSpanProcessor(spans),)) as p:
            p.emit("GET /pay", durations(5))
        assert otlp_receiver.wait_for_spans(5)
        assert {s.name for s in otlp_receiver.spans()} == {"GET /pay"}
        [headers] = otlp_receiver.headers("traces")
        assert headers["x-sentry-auth"] == (
            "Sentry sentry_key=pubkey, sentry_version=7, "
            f"sentry_client=otelperf/{version('otelperf')}"
        )
