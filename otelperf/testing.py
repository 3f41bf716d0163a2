"""Helpers for testing code that uses otelperf or OpenTelemetry: span capture and a fake clock.

Each capture gets a **fresh** ``TracerProvider`` and never touches the global one, so tests stay
independent (the pattern of prometheus_client's fresh registry per test)::

    from otelperf.testing import capture_spans

    def test_checkout_is_traced() -> None:
        with capture_spans() as captured:
            with captured.tracer.start_as_current_span("checkout"):
                ...
        assert [s.name for s in captured.spans] == ["checkout"]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.trace import Tracer

__all__ = ["CapturedSpans", "FakeClock", "capture_spans"]


class FakeClock:
    """A clock for tests: returns a settable time in integer nanoseconds.

    Pass it wherever otelperf takes ``clock: Callable[[], int]`` and move time with
    :meth:`advance`. Not thread-safe by design: tests drive it from one thread.
    """

    def __init__(self, *, start_ns: int = 1_000_000_000_000) -> None:
        """Start at ``start_ns`` (non-zero by default so "0 = unset" bugs show)."""
        self.now_ns = start_ns

    def __call__(self) -> int:
        """Return the current fake time in nanoseconds."""
        return self.now_ns

    def advance(self, *, seconds: float = 0.0, ms: float = 0.0, ns: int = 0) -> int:
        """Move time forward and return the new time in nanoseconds.

        Raises:
            ValueError: The total step is negative (time never goes back).
        """
        step_ns = round(seconds * 1e9) + round(ms * 1e6) + ns
        if step_ns < 0:
            raise ValueError(f"FakeClock.advance: step must be >= 0, got {step_ns} ns")
        self.now_ns += step_ns
        return self.now_ns


@dataclass(frozen=True)
class CapturedSpans:
    """A fresh tracer and the spans it finished. Returned by :func:`capture_spans`."""

    provider: TracerProvider
    tracer: Tracer
    exporter: InMemorySpanExporter

    @property
    def spans(self) -> tuple[ReadableSpan, ...]:
        """The finished spans, in the order they ended."""
        return self.exporter.get_finished_spans()

    def names(self) -> list[str]:
        """The names of the finished spans, in the order they ended."""
        return [span.name for span in self.spans]


@contextmanager
def capture_spans(
    *, processors: Iterable[SpanProcessor] = (), sampler: Sampler | None = None
) -> Iterator[CapturedSpans]:
    """Yield a fresh tracer whose finished spans are kept in memory; shut it down afterwards.

    Args:
        processors: Extra span processors to run before the capturing one (e.g. otelperf's).
        sampler: The provider's sampler (default: the SDK's, i.e. always on).
    """
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler, shutdown_on_exit=False)
    for processor in processors:
        provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield CapturedSpans(provider, provider.get_tracer("otelperf.testing"), exporter)
    finally:
        provider.shutdown()
