"""Head sampling: consistent ratio sampling that records ``ot=th`` on sampled traces."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.propagate import inject
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, ParentBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context
from opentelemetry.trace.span import TraceState

from otelperf._sampler import ConsistentParentSampled, ThresholdRatioSampler, head_sampler
from otelperf._settings import resolve
from otelperf._tracestate import RANDOMNESS_MASK, threshold_for, threshold_of
from otelperf.processors.sampling import MeasureAllSampler

ONE_PERCENT = threshold_for(0.01)


def remote_parent(trace_id: int, *, sampled: bool, state: TraceState | None = None):  # type: ignore[no-untyped-def]
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    context = SpanContext(trace_id, 0xABC, is_remote=True, trace_flags=flags, trace_state=state)
    return set_span_in_context(NonRecordingSpan(context))


class TestThresholdRatioSampler:
    def test_one_percent_samples_about_one_percent_and_marks_them(self) -> None:
        """Of 20k random traces ~1 % are sampled, each with ot=th:fd70a; the rest carry no th."""
        sampler = ThresholdRatioSampler(0.01)
        rng = random.Random(7)
        sampled = 0
        for _ in range(20_000):
            result = sampler.should_sample(None, rng.getrandbits(128), "GET /x")
            if result.decision is Decision.RECORD_AND_SAMPLE:
                sampled += 1
                assert result.trace_state is not None
                assert result.trace_state.to_header() == "ot=th:fd70a"
            else:
                assert result.decision is Decision.DROP
                assert not result.trace_state
        assert 140 <= sampled <= 260  # 200 expected; > 4 sigma either side

    @given(st.integers(min_value=1, max_value=2**128 - 1))
    def test_decision_is_randomness_at_least_threshold(self, trace_id: int) -> None:
        """Sampled exactly when the trace id's low 56 bits are >= the threshold."""
        result = ThresholdRatioSampler(0.01).should_sample(None, trace_id, "x")
        expected = (trace_id & RANDOMNESS_MASK) >= ONE_PERCENT
        assert (result.decision is Decision.RECORD_AND_SAMPLE) == expected

    def test_explicit_rv_in_the_parent_tracestate_wins(self) -> None:
        """An rv sub-key decides instead of the trace id, and is kept in the tracestate."""
        trace_id = 0xFFFFFFFFFFFFFF  # its own randomness would be sampled
        low = TraceState([("ot", "rv:00000000000001"), ("vendor", "v")])
        result = ThresholdRatioSampler(0.5).should_sample(
            remote_parent(trace_id, sampled=True, state=low), trace_id, "x"
        )
        assert result.decision is Decision.DROP
        assert result.trace_state is not None
        assert result.trace_state.to_header() == "ot=rv:00000000000001,vendor=v"

    def test_sampled_child_of_foreign_state_keeps_other_members(self) -> None:
        """A sampled decision sets th in front of existing ot members and other vendors."""
        state = TraceState([("vendor", "v"), ("ot", "th:f;rv:ffffffffffffff")])
        result = ThresholdRatioSampler(0.5).should_sample(
            remote_parent(1, sampled=True, state=state), 1, "x"
        )
        assert result.decision is Decision.RECORD_AND_SAMPLE
        assert result.trace_state is not None
        assert result.trace_state.to_header() == "ot=th:8;rv:ffffffffffffff,vendor=v"

    def test_ratio_zero_never_samples_and_one_always_with_th_zero(self) -> None:
        """Ratio 0 drops everything; ratio 1 samples everything with th:0 (100 %)."""
        assert ThresholdRatioSampler(0).should_sample(None, 2**128 - 1, "x").decision is (
            Decision.DROP
        )
        everything = ThresholdRatioSampler(1.0).should_sample(None, 1, "x")
        assert everything.decision is Decision.RECORD_AND_SAMPLE
        assert everything.trace_state is not None
        assert everything.trace_state.to_header() == "ot=th:0"

    def test_start_attributes_are_returned(self) -> None:
        """The span keeps its start attributes whatever the decision."""
        sampler = ThresholdRatioSampler(0.5)
        for trace_id in (1, RANDOMNESS_MASK):
            result = sampler.should_sample(None, trace_id, "x", attributes={"http.route": "/x"})
            assert dict(result.attributes) == {"http.route": "/x"}

    @pytest.mark.parametrize("bad", [-0.1, 1.01, "0.5", True, float("nan")])
    def test_bad_ratio_raises(self, bad: object) -> None:
        """A ratio outside [0, 1] or not a number raises ValueError."""
        with pytest.raises(ValueError, match="ratio must be a number between 0 and 1"):
            ThresholdRatioSampler(bad)  # type: ignore[arg-type]

    def test_description_is_the_spec_form(self) -> None:
        """The description is TraceIdRatioBased{RATIO}, as the specification requires."""
        assert ThresholdRatioSampler(0.25).get_description() == "TraceIdRatioBased{0.25}"


class TestConsistentParentSampled:
    def test_consistent_threshold_is_kept(self) -> None:
        """A sampled remote parent whose randomness >= th keeps its th."""
        state = TraceState([("ot", "th:8")])
        result = ConsistentParentSampled().should_sample(
            remote_parent(RANDOMNESS_MASK, sampled=True, state=state), RANDOMNESS_MASK, "x"
        )
        assert result.decision is Decision.RECORD_AND_SAMPLE
        assert result.trace_state is not None
        assert threshold_of(result.trace_state) == 0x80000000000000

    def test_inconsistent_threshold_is_erased(self) -> None:
        """A sampled remote parent whose randomness < th loses its th (no wrong counts)."""
        state = TraceState([("ot", "th:8"), ("vendor", "v")])
        result = ConsistentParentSampled().should_sample(
            remote_parent(1, sampled=True, state=state), 1, "x"
        )
        assert result.decision is Decision.RECORD_AND_SAMPLE
        assert result.trace_state is not None
        assert result.trace_state.to_header() == "vendor=v"


class TestHeadSamplerWithTheSdk:
    def test_sampled_spans_carry_th_and_children_inherit_it(self) -> None:
        """With sample_ratio=0.5 sampled roots and their children carry ot=th:8; others none."""
        sampler = MeasureAllSampler(head_sampler(resolve({"sample_ratio": 0.5}, {}), {}))
        exporter = InMemorySpanExporter()
        provider = TracerProvider(sampler=sampler, shutdown_on_exit=False)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("t")
        for _ in range(200):
            root = tracer.start_span("GET /a")
            tracer.start_span("db", context=set_span_in_context(root)).end()
            root.end()
        exported = exporter.get_finished_spans()
        provider.shutdown()
        assert 40 < len(exported) // 2 < 160
        for span in exported:
            assert span.context.trace_flags.sampled
            assert span.context.trace_state.to_header() == "ot=th:8"

    def test_unsampled_recorded_spans_keep_start_attributes_and_have_no_th(self) -> None:
        """MeasureAllSampler's RECORD_ONLY spans keep their start attributes and carry no th."""
        seen: list[ReadableSpan] = []

        class Keep(SpanProcessor):
            def on_end(self, span: ReadableSpan) -> None:
                seen.append(span)

        provider = TracerProvider(
            sampler=MeasureAllSampler(head_sampler(resolve({"sample_ratio": 0.0}, {}), {})),
            shutdown_on_exit=False,
        )
        provider.add_span_processor(Keep())
        provider.get_tracer("t").start_span("GET /a", attributes={"http.route": "/a"}).end()
        provider.shutdown()
        assert len(seen) == 1
        assert not seen[0].context.trace_flags.sampled
        assert dict(seen[0].attributes or {}) == {"http.route": "/a"}
        assert threshold_of(seen[0].context.trace_state) is None

    def test_w3c_propagation_sends_the_threshold_downstream(self) -> None:
        """The tracestate header of an outgoing request carries ot=th for a sampled trace."""
        provider = TracerProvider(
            sampler=head_sampler(resolve({"sample_ratio": 1.0}, {}), {}), shutdown_on_exit=False
        )
        with provider.get_tracer("t").start_as_current_span("GET /a"):
            headers: dict[str, str] = {}
            inject(headers)
        provider.shutdown()
        assert headers["tracestate"] == "ot=th:0"
        assert int(headers["traceparent"][-2:], 16) & 1  # the sampled flag

    @pytest.mark.parametrize(
        ("given", "environ", "description"),
        [
            ({"sample_ratio": 0.1}, {}, "ParentBased{root:TraceIdRatioBased{0.1},"),
            ({}, {"OTEL_TRACES_SAMPLER": "traceidratio"}, "TraceIdRatioBased{1.0}"),
            (
                {},
                {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio"},
                "ParentBased{root:TraceIdRatioBased{1.0},",
            ),
        ],
    )
    def test_ratio_choices_use_the_threshold_sampler(
        self, given: dict[str, object], environ: dict[str, str], description: str
    ) -> None:
        """sample_ratio and the traceidratio samplers build ThresholdRatioSampler."""
        sampler = head_sampler(resolve(given, environ), environ)
        text: str = sampler.get_description()
        assert text.startswith(description)
        if isinstance(sampler, ParentBased):
            assert "remoteParentSampled:ConsistentParentSampled" in text
