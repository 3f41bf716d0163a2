"""``capture_spans()``: a fresh, private TracerProvider whose finished spans stay in memory.

Each capture gets its own ``TracerProvider`` and never touches the global one, so tests stay
independent (the pattern of prometheus_client's fresh registry per test)::

    from otelperf.testing import capture_spans

    def test_checkout_is_traced() -> None:
        with capture_spans() as captured:
            with captured.tracer.start_as_current_span("checkout"):
                ...
        assert [s.name for s in captured.spans] == ["checkout"]
        captured.assert_budget("checkout max<50ms min 1")

Code that takes its tracer from the global provider is recorded with ``record_spans()`` instead.
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

from otelperf.testing._results import BudgetCheck
from otelperf.testing.budgets import judge_all, passed_or_raise

__all__ = ["CapturedSpans", "capture_spans"]

_HINT = "; spans made with captured.tracer (this capture's own provider) are the only ones seen"


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

    def check_budget(self, *budgets: object) -> list[BudgetCheck]:
        """Judge budgets over the finished spans; see ``otelperf.testing.check_budget``."""
        return judge_all(budgets, self.spans, origin="check_budget", hint=_HINT)

    def assert_budget(self, *budgets: object) -> list[BudgetCheck]:
        """Fail unless every budget holds; see ``otelperf.testing.assert_budget``.

        Raises:
            BudgetFailed: A budget broke, could not be judged or matched no span.
            ConfigError: A budget does not parse.
        """
        __tracebackhide__ = True  # pytest: show the test's line, not this frame
        checks = judge_all(budgets, self.spans, origin="assert_budget", hint=_HINT)
        return passed_or_raise(checks)


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
