"""Budgets, SLOs and regressions judged on the aggregator thread, and per-span slow checks.

:class:`BudgetMonitor` is a tick hook of the :class:`~otelperf.processors.aggregator.Aggregator`:
after each drain (about every 100 ms) it hands the live window to the pure
:class:`~otelperf.budgets.BudgetEvaluator`, feeds it every sub-window that closed (SLO burn
rates and regression baselines learn there), turns the state changes into
:class:`~otelperf.alerts.Alert` values and submits them to the
:class:`~otelperf.alerts.AlertDispatcher`, whose own threads deliver them. Nothing here runs on
the request thread, and nothing runs per span: a judgement costs O(operations + matching
(budget, operation) pairs), an operation's statistics are recomputed only when it changed, and
the live window is judged at most every ``evaluate_interval_s`` (0.5 s); closed sub-windows are
observed on every tick.

:class:`SlowSpanWatch` receives, once per drain, the spans over ``slow_ms``/``very_slow_ms``
(the aggregator's only per-span work for it is one comparison) and calls the user's
``on_slow`` on a thread of its own, rate-limited.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from otelperf import _fork
from otelperf._safety import logger
from otelperf.aggregates import ExpSketch, KeyedWindows, OperationStats, WindowData
from otelperf.alerts import Alert, AlertDispatcher
from otelperf.budgets import BudgetEvaluator, BudgetStatus, OperationView, State, Transition

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from otelperf.processors.aggregator import Aggregator

__all__ = [
    "BUDGET_BREACHES",
    "BUDGET_STATE",
    "SLO_BURN_RATE",
    "BudgetMonitor",
    "SlowSpanWatch",
]

BUDGET_STATE = "otelperf.budget.state"
BUDGET_BREACHES = "otelperf.budget.breaches"
SLO_BURN_RATE = "otelperf.slo.burn_rate"

#: Gauge values of ``otelperf.budget.state`` (the Grafana dashboard maps them back to names).
STATE_VALUES: Mapping[State, int] = MappingProxyType(
    {"ok": 0, "warning": 1, "error": 2, "critical": 3, "insufficient_data": 4}
)
_BREACHES = ("warning", "error", "critical")
_MAX_BREACH_SERIES = 10_000  # (budget, operation, state) triples counted; more are dropped
_EMPTY: Mapping[str, str] = MappingProxyType({})
_NO_VIEWS: Mapping[str, OperationView] = MappingProxyType({})
_MS_PER_S = 1000.0
_MAX_RATE_KEYS = 10_000  # operations remembered by the on_slow rate limits
K = TypeVar("K", bound=Hashable)
# The longest SLO burn window (the SRE workbook's slow pair): after a longer gap (a suspended
# process), older empty sub-windows would only be forgotten again, so they are not fed one by one.
_LONGEST_BURN_WINDOW_NS = 6 * 3600 * 1_000_000_000


class _LiveView:
    """``OperationView`` over one operation's live-window ``OperationStats``.

    ``OperationStats`` already holds p50/p90/p95/p99/p999; other quantiles are computed from
    its sketch once per view. The store returns the same ``OperationStats`` object while the
    operation is unchanged, so views (and their memo) are reused across ticks.
    """

    __slots__ = ("_memo", "stats")

    attributes = _EMPTY  # operation keys carry their key attributes in the name already

    def __init__(self, stats: OperationStats) -> None:
        self.stats = stats
        self._memo = {
            0.5: stats.p50_ms,
            0.9: stats.p90_ms,
            0.95: stats.p95_ms,
            0.99: stats.p99_ms,
            0.999: stats.p999_ms,
        }

    @property
    def operation(self) -> str:
        return self.stats.operation

    @property
    def kind(self) -> str:
        return self.stats.kind

    @property
    def count(self) -> int:
        return self.stats.count

    @property
    def errors(self) -> int:
        return self.stats.errors

    @property
    def mean_ms(self) -> float:
        return self.stats.mean_ms

    @property
    def max_ms(self) -> float:
        return self.stats.max_ms

    def quantile(self, q: float) -> float:
        value = self._memo.get(q)
        if value is None:
            value = self._memo[q] = self.stats.quantile(q)
        return value

    def count_over(self, threshold_ms: float) -> int:
        return self.stats.count_over(threshold_ms)


class _ClosedView:
    """``OperationView`` over one closed sub-window (a read-only sketch in seconds)."""

    __slots__ = ("_sketch", "errors", "kind", "operation")

    attributes = _EMPTY

    def __init__(self, operation: str, kind: str, data: WindowData) -> None:
        self.operation = operation
        self.kind = kind
        self.errors = data.errors
        self._sketch: ExpSketch = data.sketch

    @property
    def count(self) -> int:
        return self._sketch.count

    @property
    def mean_ms(self) -> float:
        return self._sketch.sum / self._sketch.count * _MS_PER_S if self._sketch.count else 0.0

    @property
    def max_ms(self) -> float:
        return self._sketch.max * _MS_PER_S

    def quantile(self, q: float) -> float:
        return self._sketch.quantile(q) * _MS_PER_S

    def count_over(self, threshold_ms: float) -> int:
        return self._sketch.count_over(threshold_ms / _MS_PER_S)


class BudgetMonitor:
    """Run a ``BudgetEvaluator`` on every aggregator tick and send its transitions as alerts.

    Register it with ``aggregator.add_tick_hook(monitor)``. The hook runs on the aggregator
    thread under the store lock, which also guards this object's state: :meth:`report` and the
    metric callbacks take the same lock through ``aggregator.with_store``, so they may be
    called from any thread. Fork-safe: a child starts with fresh budget states (the parent's
    open alerts are the parent's to resolve).
    """

    def __init__(
        self,
        aggregator: Aggregator,
        make_evaluator: Callable[[], BudgetEvaluator],
        *,
        dispatcher: AlertDispatcher | None,
        service: str,
        resource: Mapping[str, object] = _EMPTY,
        evaluate_interval_s: float = 0.5,
    ) -> None:
        """Create the monitor (it does nothing until registered as a tick hook).

        Args:
            aggregator: Whose store is judged; its sub-window length paces ``observe``.
            make_evaluator: Builds a fresh evaluator (now, and again in a forked child).
            dispatcher: Where alerts go; None judges (for reports and metrics) without alerting.
            service: ``service.name`` written into every alert.
            resource: Resource attributes copied into every alert.
            evaluate_interval_s: Least time between two judgements of the live window. Reading
                the window recomputes the statistics of every operation that changed, ~50 us
                each: with thousands of busy operations, every 100 ms tick would keep the store
                locked most of the time. Closed sub-windows are still observed on every tick.
        """
        self._aggregator = aggregator
        self._make_evaluator = make_evaluator
        self._dispatcher = dispatcher
        self._service = service
        self._resource = dict(resource)
        self._sub_window_ns = aggregator.sub_window_ns
        self._evaluate_interval_ns = round(evaluate_interval_s * 1e9)
        self._reinit()
        _fork.register(self._reinit)

    def _reinit(self) -> None:
        # Also the child's re-init: the aggregator's store starts empty there, so the budget
        # states must too, or the child would "resolve" alerts only the parent raised.
        self._evaluator = self._make_evaluator()
        self._views: dict[str, _LiveView] = {}
        self._last_slot: int | None = None  # the newest sub-window already fed to observe
        self._breaches: dict[tuple[str, str, str], int] = {}
        self._next_evaluate_ns: int | None = None

    def __call__(self, now_ns: int, store: KeyedWindows) -> None:
        """The tick hook: observe closed sub-windows, evaluate the live window, alert."""
        transitions = self._observe_closed(now_ns, store)
        if self._next_evaluate_ns is None or now_ns >= self._next_evaluate_ns:
            self._next_evaluate_ns = now_ns + self._evaluate_interval_ns
            window = self._live_views(store.all_stats(now_ns))
            transitions += self._evaluator.evaluate(now_ns, window)
        for transition in transitions:
            self._count(transition)
            self._send(transition)

    def report(self) -> list[BudgetStatus]:
        """The status of every budget as of the last tick (see ``BudgetEvaluator.report``)."""
        return self._aggregator.with_store(lambda _now_ns, _store: self._evaluator.report())

    def register_metrics(self, meter: Meter) -> None:
        """Create the observable budget instruments on ``meter`` (read at collection time)."""
        meter.create_observable_gauge(
            BUDGET_STATE,
            callbacks=[self._observe_state],
            unit="",
            description="Budget state per operation: 0 ok, 1 warning, 2 error, 3 critical, "
            "4 insufficient_data.",
        )
        meter.create_observable_counter(
            BUDGET_BREACHES,
            callbacks=[self._observe_breaches],
            unit="{breach}",
            description="Budget and SLO alerts announcing a breach (a change into warning, "
            "error or critical), by the state announced.",
        )
        meter.create_observable_gauge(
            SLO_BURN_RATE,
            callbacks=[self._observe_burn],
            unit="1",
            description="SLO error-budget burn rate over the last hour (1 = spending the "
            "budget exactly over the SLO period).",
        )

    def _observe_closed(self, now_ns: int, store: KeyedWindows) -> list[Transition]:
        """Feed ``observe`` one mapping per closed sub-window, empty ones included, in order."""
        sub_ns = self._sub_window_ns
        current = now_ns // sub_ns  # the live sub-window; every earlier one is closed
        by_slot: dict[int, dict[str, _ClosedView]] = {}
        for key, closed in store.pop_closed(now_ns).items():
            kind = store.kind(key) or ""
            for data in closed:
                by_slot.setdefault(data.start_ns // sub_ns, {})[key] = _ClosedView(key, kind, data)
        first = current if self._last_slot is None else self._last_slot + 1
        first = min((first, *by_slot))  # on the first tick: what closed before it
        first = max(first, current - _LONGEST_BURN_WINDOW_NS // sub_ns)
        out: list[Transition] = []
        for slot in range(first, current):
            out += self._evaluator.observe((slot + 1) * sub_ns, by_slot.get(slot, _NO_VIEWS))
        if self._last_slot is None or current - 1 > self._last_slot:
            self._last_slot = current - 1
        return out

    def _live_views(self, stats: Mapping[str, OperationStats]) -> dict[str, _LiveView]:
        old = self._views
        views = {}
        for key, operation_stats in stats.items():
            view = old.get(key)
            if view is None or view.stats is not operation_stats:
                view = _LiveView(operation_stats)
            views[key] = view
        self._views = views  # keys that left the window are dropped here
        return views

    def _count(self, transition: Transition) -> None:
        if transition.kind == "regression" or transition.state not in _BREACHES:
            return
        key = (transition.budget_text, transition.operation, transition.state)
        if key in self._breaches or len(self._breaches) < _MAX_BREACH_SERIES:
            self._breaches[key] = self._breaches.get(key, 0) + 1
        else:
            # Bounded like every map here; the alert itself still goes out.
            logger.warning(
                "otelperf: over %d budget breach series; further ones are not counted",
                _MAX_BREACH_SERIES,
            )

    def _send(self, transition: Transition) -> None:
        if self._dispatcher is None:
            return
        try:
            alert = to_alert(transition, service=self._service, resource=self._resource)
        except ValueError:
            logger.exception("otelperf: could not build an alert from %r; dropped", transition)
            return
        self._dispatcher.submit(alert)

    def _observe_state(self, options: CallbackOptions) -> Iterable[Observation]:
        statuses = self.report()
        return [
            Observation(
                STATE_VALUES[status.state],
                {"budget": status.budget.text, "operation": status.operation},
            )
            for status in statuses
        ]

    def _observe_breaches(self, options: CallbackOptions) -> Iterable[Observation]:
        counts = self._aggregator.with_store(lambda _now_ns, _store: dict(self._breaches))
        return [
            Observation(n, {"budget": budget, "operation": operation, "state": state})
            for (budget, operation, state), n in sorted(counts.items())
        ]

    def _observe_burn(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(
                status.burn_rate,
                {"budget": status.budget.text, "operation": status.operation, "window": "1h"},
            )
            for status in self.report()
            if status.burn_rate is not None
        ]


def to_alert(
    transition: Transition, *, service: str, resource: Mapping[str, object] = _EMPTY
) -> Alert:
    """Describe one evaluator transition as an ``Alert`` (kind, severity, values, window).

    A transition that resolves (back to ``ok``, or no traffic left) becomes severity
    ``resolved``; one without a measured value carries NaN and says why in ``detail``.

    Raises:
        ValueError: The transition has a value no alert can carry.
    """
    severity = "resolved" if transition.resolved else transition.state
    actual = transition.actual if transition.actual is not None else math.nan
    details = []
    if transition.actual is None:
        details.append("no measurement: too little traffic left in the window")
    budget = transition.budget
    statistic: str | None = None
    if transition.kind == "slo" and budget is not None:
        statistic = f"share over {budget.threshold:g} ms"
        if transition.burn_rate is not None:
            details.append(f"burn rate {transition.burn_rate:.3g}")
    elif transition.kind == "regression":
        statistic = "p95"
        if transition.baseline_ms is not None:
            details.append(f"baseline p95 {transition.baseline_ms:.3g} ms")
    elif budget is not None:
        statistic = budget.statistic
    if budget is not None and budget.impact:
        details.append(f"impact: {budget.impact}")
    if budget is not None and budget.owner:
        details.append(f"owner: {budget.owner}")
    return Alert(
        kind=transition.kind,  # type: ignore[arg-type]  # Alert converts the value
        severity=severity,  # type: ignore[arg-type]
        service=service,
        operation=transition.operation,
        statistic=statistic,
        budget=transition.budget_text,
        actual=actual,
        threshold=transition.threshold,
        unit=transition.unit,  # type: ignore[arg-type]
        window_s=transition.window_s or 0.0,
        detail="; ".join(details) or None,
        resource=resource,
    )


OnSlow = Callable[[str, float, str], object]


class SlowSpanWatch:
    """Call ``on_slow(span_name, duration_ms, trace_id_hex)`` for slow spans, rate-limited.

    Register with ``aggregator.watch_slow(watch.threshold_ns, watch)``. Called once per drain on
    the aggregator thread with the spans over the lower threshold; it applies the rate limit
    and queues calls for the ``otelperf-on-slow`` thread, so a slow or failing callback delays
    neither aggregation nor the application. Per operation and threshold (``slow``,
    ``very_slow``) at most one call per ``min_interval_s``: a very slow span is never hidden
    by the rate limit of merely slow ones. Very slow spans are also logged as one WARNING per
    operation per ``log_interval_s``. Calls over the queue's bound are dropped and counted.
    """

    def __init__(
        self,
        *,
        slow_ms: float | None,
        very_slow_ms: float | None,
        on_slow: OnSlow | None,
        log_interval_s: float = 60.0,
        min_interval_s: float = 1.0,
        max_queue_size: int = 100,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        """Check the thresholds and start the callback thread (when there is a callback).

        Raises:
            ValueError: Neither threshold is set, or one is not a positive number.
        """
        thresholds = [t for t in (slow_ms, very_slow_ms) if t is not None]
        if not thresholds or not all(0 < t < math.inf for t in thresholds):
            raise ValueError(
                f"SlowSpanWatch needs slow_ms or very_slow_ms > 0, got {slow_ms}, {very_slow_ms}"
            )
        self.threshold_ns = round(min(thresholds) * 1e6)
        self._slow_ns = None if slow_ms is None else round(slow_ms * 1e6)
        self._very_slow_ns = None if very_slow_ms is None else round(very_slow_ms * 1e6)
        self._very_slow_ms = very_slow_ms
        self._on_slow = on_slow
        self._log_interval_ns = round(log_interval_s * 1e9)
        self._min_interval_ns = round(min_interval_s * 1e9)
        self._max_queue_size = max_queue_size
        self._clock = clock
        self.dropped = 0  # calls refused by the rate limit or a full queue
        self._start()
        _fork.register(self._start)

    def _start(self) -> None:
        # Also the child's re-init after fork: new queue and thread, no inherited calls.
        self._last_call_ns: dict[tuple[str, bool], int] = {}
        self._last_log_ns: dict[str, int] = {}
        self._queue: queue.Queue[tuple[str, float, str] | None] = queue.Queue(self._max_queue_size)
        self._thread: threading.Thread | None = None
        if self._on_slow is not None:
            self._thread = threading.Thread(target=self._run, name="otelperf-on-slow", daemon=True)
            self._thread.start()

    def __call__(self, spans: list[ReadableSpan]) -> None:
        """Rate-limit and queue the calls for ``spans`` (the aggregator's slow hook)."""
        now_ns = self._clock()
        for span in spans:
            start_ns, end_ns = span.start_time, span.end_time
            if start_ns is None or end_ns is None:
                continue
            duration_ns = end_ns - start_ns
            very = self._very_slow_ns is not None and duration_ns >= self._very_slow_ns
            if not very and (self._slow_ns is None or duration_ns < self._slow_ns):
                continue
            duration_ms = duration_ns / 1e6
            trace_id = format(span.context.trace_id, "032x") if span.context else "0" * 32
            if very:
                self._log_very_slow(span.name, duration_ms, trace_id, now_ns)
            if self._on_slow is None:
                continue
            if not _due(self._last_call_ns, (span.name, very), now_ns, self._min_interval_ns):
                self.dropped += 1
                continue
            try:
                self._queue.put_nowait((span.name, duration_ms, trace_id))
            except queue.Full:
                self.dropped += 1

    def shutdown(self, timeout_s: float = 1.0) -> None:
        """Stop the callback thread after the queued calls; bounded by ``timeout_s``."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            return
        thread.join(timeout_s)

    def _log_very_slow(self, name: str, duration_ms: float, trace_id: str, now_ns: int) -> None:
        if _due(self._last_log_ns, name, now_ns, self._log_interval_ns):
            logger.warning(
                "otelperf: very slow span %r took %.0f ms (very_slow_ms=%g), trace %s",
                name,
                duration_ms,
                self._very_slow_ms,
                trace_id,
            )

    def _run(self) -> None:
        on_slow, failing = self._on_slow, False
        assert on_slow is not None
        while (item := self._queue.get()) is not None:
            try:
                on_slow(*item)
            except Exception:  # noqa: BLE001 - the user's callback must not end the thread
                if not failing:
                    logger.warning(
                        "otelperf: on_slow raised; call dropped (not logged again until it "
                        "succeeds)",
                        exc_info=True,
                    )
                failing = True
            else:
                failing = False


def _due(last: dict[K, int], key: K, now_ns: int, interval_ns: int) -> bool:
    """Whether ``key`` may fire now (its last firing is ``interval_ns`` old); if so, note it."""
    previous = last.get(key)
    if previous is not None and now_ns - previous < interval_ns:
        return False
    if previous is None and len(last) >= _MAX_RATE_KEYS:
        last.clear()  # bounded; forgetting only lets one extra call through per operation
    last[key] = now_ns
    return True
