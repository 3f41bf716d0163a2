"""MeasureAllSampler: percentiles see every request, exporters see only sampled spans."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Decision, ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from otelperf.processors.aggregator import Aggregator
from otelperf.processors.latency import LatencyProcessor
from otelperf.processors.sampling import MeasureAllSampler
from otelperf.testing import capture_spans


def trace_of_three(tracer, name: str) -> None:  # type: ignore[no-untyped-def]
    root = tracer.start_span(name)
    ctx = set_span_in_context(root)
    child = tracer.start_span("db.query", context=ctx)
    grandchild = tracer.start_span("db.fetch", context=set_span_in_context(child))
    grandchild.end()
    child.end()
    root.end()


class TestMeasureAllSampler:
    @pytest.mark.parametrize(
        ("measure", "measured"),
        [
            ("all", {"GET /a": 2000, "db.query": 2000, "db.fetch": 2000}),
            ("roots", {"GET /a": 2000}),
        ],
    )
    def test_ratio_one_percent_measures_every_request_exports_about_one_percent(
        self, measure: str, measured: dict[str, int]
    ) -> None:
        """At ratio 0.01, stats count every root; only ~1 % of traces are exported, whole."""
        agg = Aggregator(interval_s=3600, ring_size=100_000)
        inner = ParentBased(TraceIdRatioBased(0.01))
        sampler = MeasureAllSampler(inner, measure=measure)  # type: ignore[arg-type]
        with capture_spans(processors=[LatencyProcessor(agg)], sampler=sampler) as captured:
            for _ in range(2000):
                trace_of_three(captured.tracer, "GET /a")
            exported = captured.spans
        agg.flush()
        counts = {name: s.count for name, s in agg.all_stats().items()}
        assert {name: counts[name] for name in measured} == measured
        if measure == "roots":
            # Unsampled children are dropped; only sampled traces' children are measured.
            assert counts.get("db.query", 0) == len(exported) // 3
        assert len(exported) % 3 == 0  # exported traces are complete
        assert 0 < len(exported) // 3 < 2000 * 0.03
        assert all(span.context.trace_flags.sampled for span in exported)
        agg.shutdown()

    def test_none_is_plain_head_sampling(self) -> None:
        """measure='none' keeps the inner sampler's DROP."""
        sampler = MeasureAllSampler(ALWAYS_OFF, measure="none")
        assert sampler.should_sample(None, 1, "x").decision is Decision.DROP

    def test_drop_becomes_record_only(self) -> None:
        """measure='all' turns DROP into RECORD_ONLY (recorded, not sampled)."""
        sampler = MeasureAllSampler(ALWAYS_OFF)
        assert sampler.should_sample(None, 1, "x").decision is Decision.RECORD_ONLY

    def test_roots_measures_remote_parent_children(self) -> None:
        """measure='roots': a span under a remote (unsampled) parent is a local root: recorded."""
        remote = SpanContext(1, 2, is_remote=True, trace_flags=TraceFlags(0))
        ctx = set_span_in_context(NonRecordingSpan(remote))
        sampler = MeasureAllSampler(ParentBased(ALWAYS_OFF), measure="roots")
        assert sampler.should_sample(ctx, 1, "GET /x").decision is Decision.RECORD_ONLY
        local = SpanContext(1, 3, is_remote=False, trace_flags=TraceFlags(0))
        local_ctx = set_span_in_context(NonRecordingSpan(local))
        assert sampler.should_sample(local_ctx, 1, "child").decision is Decision.DROP

    def test_sampled_decision_passes_through(self) -> None:
        """A sampled decision is returned unchanged."""
        sampler = MeasureAllSampler(ParentBased(TraceIdRatioBased(1.0)))
        assert sampler.should_sample(None, 1, "x").decision is Decision.RECORD_AND_SAMPLE

    def test_bad_measure_is_refused(self) -> None:
        """An unknown measure mode raises ValueError at construction."""
        with pytest.raises(ValueError, match="'all', 'roots' or 'none'"):
            MeasureAllSampler(ALWAYS_OFF, measure="some")  # type: ignore[arg-type]

    def test_description_names_the_mode_and_inner(self) -> None:
        """get_description shows the mode and the inner sampler."""
        assert MeasureAllSampler(ALWAYS_OFF, measure="roots").get_description() == (
            "MeasureAll{roots,AlwaysOffSampler}"
        )
