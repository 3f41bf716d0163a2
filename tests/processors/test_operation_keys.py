"""Operation keys are bounded in length as well as in number."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider

from otelperf.processors.aggregator import MAX_KEY_CHARS, Aggregator, cut_key
from otelperf.processors.latency import LatencyProcessor


def test_a_10_kb_span_name_is_filed_under_a_cut_key() -> None:
    """A 10 kB name becomes a 256-character key ending in an ellipsis; short names are kept."""
    aggregator = Aggregator(window_s=60, max_operations=10, key_attributes=())
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(LatencyProcessor(aggregator))
    tracer = provider.get_tracer("t")
    long_name = "x" * 10_000
    for name in (long_name, long_name, "GET /users"):
        tracer.start_span(name).end()
    aggregator.flush()
    stats = aggregator.all_stats()
    assert sorted(len(k) for k in stats) == [len("GET /users"), MAX_KEY_CHARS]
    cut = cut_key(long_name)
    assert cut.endswith("\u2026") and stats[cut].count == 2
    span = tracer.start_span(long_name)
    span.end()
    assert aggregator.operation_key(span) == cut  # type: ignore[arg-type]
    aggregator.shutdown()
    provider.shutdown()
