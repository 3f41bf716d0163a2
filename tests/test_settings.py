"""Settings resolution: precedence matrix and one test per error message."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from otelperf import ConfigError
from otelperf._settings import SETTINGS, Settings, markdown_table, resolve
from otelperf.alerts import LogSink
from otelperf.budgets import INTERACTIVE_BUDGETS, Budget


def on_slow_example(span_name: str, duration_ms: float, trace_id_hex: str) -> None:
    """Named by OTELPERF_ON_SLOW in the matrix below."""


def on_slow_kwarg(span_name: str, duration_ms: float, trace_id_hex: str) -> None:
    """Passed as configure(on_slow=...) in the matrix below."""


KW_SINK = LogSink(name="kw")
# Sinks have no value equality: results (and the default) are compared by sink names.
COMPARE: dict[str, Any] = {"alerts": lambda sinks: tuple(sink.name for sink in sinks)}
# Settings that only make sense with another one: given alongside every matrix case.
NEEDS: dict[str, dict[str, Any]] = {
    "on_slow": {"slow_ms": 100},
    # The matrix's windows (down to 120 s) must hold 30 memory samples.
    "leak_window_s": {"memory_interval_s": 1},
}

# setting -> (keyword value, OTELPERF_* value, standard OTEL_* variables, and the three results)
MATRIX: dict[str, tuple[Any, str, dict[str, str], Any, Any, Any]] = {
    "service_name": ("kw", "perf", {"OTEL_SERVICE_NAME": "otel"}, "kw", "perf", "otel"),
    "sample_ratio": (
        0.25,
        "0.5",
        {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.75"},
        0.25,
        0.5,
        0.75,
    ),
    "exporters": (
        ["console"],
        "otlp,console",
        {"OTEL_TRACES_EXPORTER": "none"},
        ("console",),
        ("otlp", "console"),
        (),
    ),
    # Settings with no standard OTEL_* equivalent: the OTEL column falls through to the default.
    "otlp_preset": ("newrelic", "Sentry", {}, "newrelic", "sentry", None),
    "measure_unsampled": ("roots", "none", {}, "roots", "none", "all"),
    "window_s": (30, "15.5", {}, 30.0, 15.5, 60.0),
    "max_operations": (10, "20", {}, 10, 20, 2000),
    "key_attributes": (["tenant"], "a, b", {}, ("tenant",), ("a", "b"), ()),
    "budgets": (
        [Budget.parse("GET /a p99<1s"), "GET /b p50<10ms"],
        "interactive",
        {},
        (Budget.parse("GET /a p99<1s"), Budget.parse("GET /b p50<10ms")),
        INTERACTIVE_BUDGETS,
        (),
    ),
    "alerts": (
        [KW_SINK],
        "webhook:http://127.0.0.1:9/x,log",
        {},
        ("kw",),
        ("webhook", "log"),
        ("log",),
    ),
    "alert_interval_s": (5, "0.5", {}, 5.0, 0.5, 60.0),
    "regression_factor": ("off", "3", {}, None, 3.0, 2.0),
    "slow_ms": (250, "100", {}, 250.0, 100.0, None),
    "very_slow_ms": (2500, "1000", {}, 2500.0, 1000.0, None),
    "on_slow": (
        on_slow_kwarg,
        "tests.test_settings:on_slow_example",
        {},
        on_slow_kwarg,
        on_slow_example,
        None,
    ),
    "tail_sampling": ("on", "off", {}, "on", "off", "auto"),
    "tail_max_traces": (50, "100", {}, 50, 100, 10_000),
    "tail_max_spans_per_trace": (5, "7", {}, 5, 7, 1_000),
    "tail_wait_s": (1, "2.5", {}, 1.0, 2.5, 30.0),
    "floor_interval_s": (10, "0.5", {}, 10.0, 0.5, 60.0),
    "memory_interval_s": (2, "off", {}, 2.0, None, 10.0),
    "leak_window_s": (600, "120", {}, 600.0, 120.0, 3600.0),
    "leak_min_growth_mb_per_h": (1, "0", {}, 1.0, 0.0, 10.0),
    "leak_deep": (True, "on", {}, True, True, False),
    "span_leak_after_s": (30, "off", {}, 30.0, None, 300.0),
}


class TestPrecedence:
    def test_matrix_covers_every_setting(self) -> None:
        """Every declared setting has a row in the precedence matrix."""
        assert sorted(MATRIX) == sorted(f.name for f in SETTINGS)

    @pytest.mark.parametrize(
        ("name", "kw", "perf", "otel"),
        [
            (name, kw, perf, otel)
            for name in MATRIX
            for kw, perf, otel in itertools.product([False, True], repeat=3)
        ],
    )
    def test_kwarg_beats_otelperf_env_beats_otel_env_beats_default(
        self, name: str, kw: bool, perf: bool, otel: bool
    ) -> None:
        """The winning source is the first given of keyword, OTELPERF_*, OTEL_*, default."""
        kw_value, perf_value, otel_env, want_kw, want_perf, want_otel = MATRIX[name]
        given = {**NEEDS.get(name, {}), **({name: kw_value} if kw else {})}
        environ = {f"OTELPERF_{name.upper()}": perf_value} if perf else {}
        if otel:
            environ.update(otel_env)
        compare = COMPARE.get(name, lambda value: value)
        want = (
            want_kw
            if kw
            else want_perf
            if perf
            else want_otel
            if otel
            else compare(getattr(Settings(), name))
        )
        assert compare(getattr(resolve(given, environ), name)) == want

    def test_none_keyword_and_empty_env_mean_not_given(self) -> None:
        """configure(x=None) and OTELPERF_X='' fall through to the next source."""
        settings = resolve(
            {"service_name": None}, {"OTELPERF_SERVICE_NAME": "  ", "OTEL_SERVICE_NAME": "svc"}
        )
        assert settings.service_name == "svc"

    def test_sampler_arg_applies_only_to_ratio_samplers(self) -> None:
        """OTEL_TRACES_SAMPLER_ARG is ignored unless OTEL_TRACES_SAMPLER is a ratio sampler."""
        environ = {"OTEL_TRACES_SAMPLER": "always_on", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
        assert resolve({}, environ).sample_ratio is None

    def test_settings_are_frozen(self) -> None:
        """A resolved Settings object cannot be changed."""
        settings = resolve({}, {})
        with pytest.raises(AttributeError):
            settings.service_name = "x"  # type: ignore[misc]

    def test_exporter_names_are_deduplicated_in_order(self) -> None:
        """Repeated exporter names collapse to one, keeping the first position."""
        assert resolve({"exporters": "console, otlp,console"}, {}).exporters == ("console", "otlp")


class TestErrors:
    @pytest.mark.parametrize(
        ("given", "environ", "message"),
        [
            (
                {},
                {"OTELPERF_SAMPLE_RATIO": "1.5"},
                "OTELPERF_SAMPLE_RATIO='1.5': expected a number between 0 and 1",
            ),
            (
                {},
                {"OTELPERF_SAMPLE_RATIO": "abc"},
                "OTELPERF_SAMPLE_RATIO='abc': expected a number between 0 and 1",
            ),
            (
                {"sample_ratio": True},
                {},
                "configure(sample_ratio=True): expected a number between 0 and 1",
            ),
            (
                {"sample_ratio": float("nan")},
                {},
                "configure(sample_ratio=nan): expected a number between 0 and 1",
            ),
            (
                {},
                {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "-1"},
                "OTEL_TRACES_SAMPLER_ARG='-1': expected a number between 0 and 1",
            ),
            (
                {},
                {"OTELPERF_SERVICE_NAME": "a\tb"},
                "OTELPERF_SERVICE_NAME='a\\tb': expected a non-empty string",
            ),
            ({"service_name": 42}, {}, "configure(service_name=42): expected a non-empty string"),
            (
                {"exporters": 5},
                {},
                "configure(exporters=5): expected a comma-separated list of exporter names",
            ),
            (
                {},
                {"OTELPERF_EXPORTERS": "otlp,zipkin"},
                "OTELPERF_EXPORTERS='otlp,zipkin': expected exporter names from: console, "
                "datadog, newrelic, none, otlp, otlp_proto_grpc, otlp_proto_http, sentry",
            ),
            (
                {"sampel_ratio": 0.5},
                {},
                "configure() got unknown setting(s) sampel_ratio: expected one of "
                "alert_interval_s, alerts, budgets, exporters, floor_interval_s, key_attributes, "
                "leak_deep, leak_min_growth_mb_per_h, leak_window_s, max_operations, "
                "measure_unsampled, memory_interval_s, on_slow, otlp_preset, regression_factor, "
                "sample_ratio, service_name, slow_ms, span_leak_after_s, tail_max_spans_per_trace, "
                "tail_max_traces, tail_sampling, tail_wait_s, very_slow_ms, window_s",
            ),
            (
                {"window_s": 0},
                {},
                "configure(window_s=0): expected a number between 0.6 and 604800",
            ),
            (
                {},
                {"OTELPERF_WINDOW_S": "abc"},
                "OTELPERF_WINDOW_S='abc': expected a number between 0.6 and 604800",
            ),
            (
                {"window_s": 1e300},
                {},
                "configure(window_s=1e+300): expected a number between 0.6 and 604800",
            ),
            (
                {"max_operations": -1},
                {},
                "configure(max_operations=-1): expected an integer >= 1",
            ),
            (
                {"max_operations": 2.5},
                {},
                "configure(max_operations=2.5): expected an integer >= 1",
            ),
            (
                {},
                {"OTELPERF_MEASURE_UNSAMPLED": "some"},
                "OTELPERF_MEASURE_UNSAMPLED='some': expected one of all, roots, none",
            ),
            (
                {"key_attributes": "a,,b"},
                {},
                "configure(key_attributes='a,,b'): expected a comma-separated list of non-empty "
                "names",
            ),
            (
                {},
                {"OTELPERF_BUDGETS": "interactive; GET /a p99<"},
                "OTELPERF_BUDGETS: 'GET /a p99<' at column 12: expected a number",
            ),
            (
                {"budgets": 42},
                {},
                "configure(budgets=...)=42: expected a Budget, a budget string, a preset name "
                "or a list of them",
            ),
            (
                {"budgets": "db.* p95<50ms over 7h"},
                {},
                "configure(budgets=...): 'db.* p95<50ms over 7h': expected an 'over' of at most "
                "6h (for a longer period use an SLO, e.g. '99%<250ms over 30d', or the exported "
                "histograms)",
            ),
            (
                {},
                {"OTELPERF_BUDGETS": "db.* p95<50ms over 5s"},
                "OTELPERF_BUDGETS: 'db.* p95<50ms over 5s': expected an 'over' of at least one "
                "sub-window (10s = window_s / 6), or no 'over' to use the live window (1m)",
            ),
            (
                {},
                {"OTELPERF_ALERTS": "log,pager"},
                "OTELPERF_ALERTS='pager': expected log, callback, webhook:<url>, sentry, "
                "datadog or newrelic",
            ),
            (
                {"alert_interval_s": -1},
                {},
                "configure(alert_interval_s=-1): expected a number > 0 and <= 604800",
            ),
            (
                {},
                {"OTELPERF_REGRESSION_FACTOR": "0.5"},
                "OTELPERF_REGRESSION_FACTOR='0.5': expected a number > 1 or off",
            ),
            ({}, {"OTELPERF_SLOW_MS": "fast"}, "OTELPERF_SLOW_MS='fast': expected a number > 0"),
            (
                {"slow_ms": 500},
                {"OTELPERF_VERY_SLOW_MS": "100"},
                "OTELPERF_VERY_SLOW_MS='100': expected a number >= slow_ms (500)",
            ),
            (
                {"slow_ms": 500, "on_slow": 42},
                {},
                "configure(on_slow=42): expected a callable (span_name, duration_ms, "
                "trace_id_hex) or 'module:function' naming one",
            ),
            (
                {"slow_ms": 500},
                {"OTELPERF_ON_SLOW": "tests.test_settings:missing"},
                "OTELPERF_ON_SLOW='tests.test_settings:missing': expected a callable "
                "(span_name, duration_ms, trace_id_hex) or 'module:function' naming one "
                "(module 'tests.test_settings' has no attribute 'missing')",
            ),
            (
                {"on_slow": print},
                {},
                "configure(on_slow=<built-in function print>): expected slow_ms or very_slow_ms "
                "to be set too (on_slow is called for spans over them)",
            ),
            (
                {},
                {"OTELPERF_OTLP_PRESET": "datadog"},
                "OTELPERF_OTLP_PRESET='datadog': expected one of sentry, newrelic",
            ),
            (
                {},
                {"OTELPERF_TAIL_SAMPLING": "yes"},
                "OTELPERF_TAIL_SAMPLING='yes': expected one of auto, on, off",
            ),
            (
                {"tail_sampling": "on"},
                {"OTELPERF_MEASURE_UNSAMPLED": "roots"},
                "OTELPERF_MEASURE_UNSAMPLED='roots': expected 'all' when tail_sampling is 'on' "
                "(the tail sampler must see every span of the requests the head sampler drops)",
            ),
            (
                {"tail_max_traces": 0},
                {},
                "configure(tail_max_traces=0): expected an integer >= 1",
            ),
            (
                {},
                {"OTELPERF_TAIL_MAX_SPANS_PER_TRACE": "1e3"},
                "OTELPERF_TAIL_MAX_SPANS_PER_TRACE='1e3': expected an integer >= 1",
            ),
            ({"tail_wait_s": 0}, {}, "configure(tail_wait_s=0): expected a number > 0 and <= 3600"),
            (
                {},
                {"OTELPERF_FLOOR_INTERVAL_S": "-5"},
                "OTELPERF_FLOOR_INTERVAL_S='-5': expected a number > 0 and <= 604800",
            ),
            (
                {"memory_interval_s": 0.01},
                {},
                "configure(memory_interval_s=0.01): expected a number >= 0.1 or off",
            ),
            (
                {},
                {"OTELPERF_LEAK_WINDOW_S": "5"},
                "OTELPERF_LEAK_WINDOW_S='5': expected a number between 10 and 2592000",
            ),
            (
                {},
                {"OTELPERF_LEAK_WINDOW_S": "120"},
                "OTELPERF_LEAK_WINDOW_S='120': expected at least 30 x memory_interval_s = 300 s "
                "(memory_interval_s is 10, the default), or the growth trend never gets enough "
                "samples to judge a leak",
            ),
            (
                {"leak_window_s": 60},
                {"OTELPERF_MEMORY_INTERVAL_S": "10"},
                "configure(leak_window_s=60): expected at least 30 x memory_interval_s = 300 s "
                "(memory_interval_s is 10, from OTELPERF_MEMORY_INTERVAL_S), or the growth trend "
                "never gets enough samples to judge a leak",
            ),
            (
                {"memory_interval_s": 200},
                {},
                "configure(memory_interval_s=200): expected at most leak_window_s / 30 = 120 s "
                "(leak_window_s is 3600, the default), or the growth trend never gets enough "
                "samples to judge a leak",
            ),
            (
                {"leak_min_growth_mb_per_h": -1},
                {},
                "configure(leak_min_growth_mb_per_h=-1): expected a number >= 0",
            ),
            (
                {},
                {"OTELPERF_LEAK_DEEP": "maybe"},
                "OTELPERF_LEAK_DEEP='maybe': expected true or false (also on/off, 1/0, yes/no)",
            ),
            (
                {"leak_deep": 1},
                {},
                "configure(leak_deep=1): expected true or false (also on/off, 1/0, yes/no)",
            ),
            (
                {},
                {"OTELPERF_SPAN_LEAK_AFTER_S": "0"},
                "OTELPERF_SPAN_LEAK_AFTER_S='0': expected a number > 0 and <= 604800 or off",
            ),
            (
                {"span_leak_after_s": 1e9},
                {},
                "configure(span_leak_after_s=1000000000.0): expected a number > 0 and <= 604800 "
                "or off",
            ),
        ],
    )
    def test_message_names_origin_value_and_expectation(
        self, given: dict[str, object], environ: dict[str, str], message: str
    ) -> None:
        """Each bad value raises ConfigError with origin, value and what is expected."""
        with pytest.raises(ConfigError) as caught:
            resolve(given, environ)
        assert str(caught.value) == message

    def test_config_error_is_a_value_error(self) -> None:
        """ConfigError can be caught as ValueError."""
        assert issubclass(ConfigError, ValueError)


class TestDocumentation:
    def test_readme_settings_table_is_generated_from_settings(self) -> None:
        """README.md contains exactly the table markdown_table() generates."""
        from pathlib import Path

        readme = (Path(__file__).parents[1] / "README.md").read_text()
        assert markdown_table() in readme

    def test_every_setting_has_a_doc(self) -> None:
        """Each setting declares a non-empty description."""
        assert all(f.metadata["doc"].strip() for f in SETTINGS)
