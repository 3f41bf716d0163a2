"""A FakeClock-driven Aggregator with a BudgetMonitor whose alerts land in a list (tests only)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from otelperf.alerts import Alert, AlertDispatcher, CallbackSink
from otelperf.budgets import BudgetEvaluator, parse_budgets
from otelperf.processors.aggregator import Aggregator
from otelperf.processors.budgets import BudgetMonitor
from otelperf.processors.latency import LatencyProcessor
from otelperf.processors.sampling import MeasureAllSampler
from otelperf.testing import FakeClock, capture_spans


class Rig:
    """An aggregator on a fake clock with a BudgetMonitor whose alerts land in a list."""

    def __init__(
        self,
        budgets: str,
        *,
        alerts: bool = True,
        evaluate_interval_s: float = 0.0,
        **evaluator: Any,
    ) -> None:
        self.clock = FakeClock()
        self.aggregator = Aggregator(ring_size=100_000, interval_s=3600, clock=self.clock)
        self.alerts: list[Alert] = []
        sink = CallbackSink(self.alerts.append, name="test")
        self.dispatcher = AlertDispatcher([sink]) if alerts else None
        options = {"alert_interval_s": 1.0, **evaluator}
        try:
            self.monitor = BudgetMonitor(
                self.aggregator,
                lambda: BudgetEvaluator(parse_budgets(budgets, origin="test"), **options),
                dispatcher=self.dispatcher,
                service="shop",
                resource={"service.name": "shop", "host.name": "h1"},
                evaluate_interval_s=evaluate_interval_s,
            )
        except BaseException:  # a refused budget must not leave the aggregator thread running
            self.aggregator.shutdown()
            if self.dispatcher is not None:
                self.dispatcher.shutdown()
            raise
        self.aggregator.add_tick_hook(self.monitor)

    def spans(
        self, name: str, duration_ms: float, count: int = 50, *, sampled: bool = True
    ) -> list[str]:
        """End ``count`` spans of ``name`` lasting ``duration_ms`` and drain them (one tick).

        Unsampled spans are recorded but not exported, as under ``MeasureAllSampler``.
        Returns the trace ids (hex) of the spans, in order.
        """
        sampler = None if sampled else MeasureAllSampler(ALWAYS_OFF)
        trace_ids = []
        with capture_spans(
            processors=[LatencyProcessor(self.aggregator)], sampler=sampler
        ) as captured:
            for _ in range(count):
                span = captured.tracer.start_span(name, start_time=1_000)
                span.end(end_time=1_000 + round(duration_ms * 1e6))
                trace_ids.append(format(span.get_span_context().trace_id, "032x"))
        self.aggregator.flush()
        return trace_ids

    def tick(self, *, seconds: float) -> None:
        """Move the clock and run one aggregator tick without new spans."""
        self.clock.advance(seconds=seconds)
        self.aggregator.flush()

    def delivered(self) -> list[Alert]:
        """The alerts delivered so far (waits for the dispatcher's threads)."""
        assert self.dispatcher is not None
        assert self.dispatcher.flush(5)
        return list(self.alerts)

    def close(self) -> None:
        self.aggregator.shutdown()
        if self.dispatcher is not None:
            self.dispatcher.shutdown(2)


def all_rigs() -> Iterator[list[Rig]]:
    """The body of a ``rigs`` fixture: the rigs a test made, closed afterwards.

    Use as ``rigs_fixture = pytest.fixture(all_rigs, name="rigs")`` in a test module.
    """
    made: list[Rig] = []
    yield made
    for rig in made:
        rig.close()


def rig(rigs: list[Rig], budgets: str, **options: Any) -> Rig:
    made = Rig(budgets, **options)
    rigs.append(made)
    return made
