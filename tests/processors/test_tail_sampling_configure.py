"""configure(tail_sampling="on"): the wired pipeline, end to end, through the public API."""

from __future__ import annotations

import dataclasses

import pytest
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

import otelperf
from otelperf._errors import ConfigError
from otelperf._receiver import OTLPReceiver
from otelperf._settings import resolve
from otelperf._wiring.tail import Tail
from otelperf.processors.tail_sampling import REASON_ATTRIBUTE

pytestmark = pytest.mark.usefixtures("fresh_globals")

TRACES = 3000


def test_configure_keeps_every_error_trace_and_stats_count_all(
    monkeypatch: pytest.MonkeyPatch, otlp_receiver: OTLPReceiver
) -> None:
    """sample_ratio=0.01 + tail_sampling=on: errors arrive whole, stats() counts every request."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.grpc_endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    handle = otelperf.configure(service_name="shop", sample_ratio=0.01, tail_sampling="on")
    assert handle.aggregator is not None and handle.tail_sampler is not None
    tracer = trace.get_tracer("shop")
    errors: set[str] = set()
    for i in range(TRACES):
        with tracer.start_as_current_span("GET /checkout") as root:
            with tracer.start_as_current_span("db.query"):
                pass
            if i % 100 == 0:
                root.set_status(Status(StatusCode.ERROR))
                errors.add(f"{root.get_span_context().trace_id:032x}")
    handle.aggregator.flush()  # the aggregator thread drains every 100 ms: do it now
    stats = otelperf.stats("GET /checkout")
    assert stats is not None and stats.count == TRACES
    assert otelperf.shutdown()
    spans = otlp_receiver.spans()
    by_trace: dict[str, list[str]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span.name)
    assert all(sorted(by_trace[t]) == ["GET /checkout", "db.query"] for t in errors)
    assert len(by_trace) < 0.07 * TRACES  # errors 1 %, head ~1 %, outliers ~1 % (> p99), floor
    assert {str(s.attributes[REASON_ATTRIBUTE]) for s in spans} <= {
        "error",
        "head",
        "floor",
        "outlier",
    }
    # The decisions metric (final export at shutdown) accounts for every request exactly once.
    decisions = {
        (p.attributes["reason"], p.attributes["kept"]): int(p.value or 0)
        for p in otlp_receiver.metrics(name="otelperf.sampling.decisions")
    }
    assert sum(decisions.values()) == TRACES
    error_roots = [
        s for s in spans if s.name == "GET /checkout" and s.attributes[REASON_ATTRIBUTE] == "error"
    ]
    assert decisions[("error", True)] == len(error_roots) > 0


def test_tail_sampling_needs_every_span_measured() -> None:
    """tail_sampling=on with measure_unsampled=roots is refused at configure()."""
    with pytest.raises(ConfigError, match=r"measure_unsampled='roots'\)?: expected 'all'"):
        otelperf.configure(exporters="none", tail_sampling="on", measure_unsampled="roots")


@pytest.mark.parametrize(
    ("given", "enabled"),
    [
        ({"sample_ratio": 0.1}, True),
        ({"sample_ratio": 1.0}, False),
        ({}, False),
        ({"sample_ratio": 0.1, "measure_unsampled": "roots"}, False),
    ],
)
def test_auto_turns_on_only_when_head_sampling_drops_traces(
    given: dict[str, object], enabled: bool
) -> None:
    """tail_sampling='auto' (if offered): on iff sample_ratio < 1 and every span is measured."""
    settings = dataclasses.replace(resolve(given, {}), tail_sampling="auto")
    assert Tail(settings).enabled is enabled
