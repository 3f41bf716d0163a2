"""``BudgetMonitor``: budgets, SLOs and regressions judged on the aggregator thread.

It is a tick hook of the :class:`~otelperf.processors.aggregator.Aggregator`: after each drain
(about every 100 ms) it hands the live window to the pure
:class:`~otelperf.budgets.BudgetEvaluator`, feeds it every sub-window that closed (SLO burn
rates and regression baselines learn there), keeps the longer windows that ``over`` budgets ask
for (:class:`~otelperf.processors.budget_windows.BlockWindows`), turns the state changes into
:class:`~otelperf.alerts.Alert` values (with an example trace when one is known, see
:class:`~otelperf.processors.budget_examples.ExampleTraces`) and submits them to the
:class:`~otelperf.alerts.AlertDispatcher`, whose own threads deliver them.

Nothing here runs on the request thread, and nothing runs per span: a judgement costs
O(operations + matching (budget, operation) pairs), an operation's statistics are recomputed
only when it changed, and the live window is judged at most every ``evaluate_interval_s``
(0.5 s); closed sub-windows are observed on every tick.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from opentelemetry.metrics import Meter

from otelperf import _fork
from otelperf._safety import logger
from otelperf.aggregates import KeyedWindows, OperationStats
from otelperf.alerts import AlertDispatcher
from otelperf.budgets import Budget, BudgetEvaluator, BudgetStatus, OperationView, Transition
from otelperf.processors.budget_alerts import to_alert
from otelperf.processors.budget_examples import ExampleDuty, ExampleTraces
from otelperf.processors.budget_metrics import BreachKey, register_budget_metrics
from otelperf.processors.budget_views import LiveView, SketchView
from otelperf.processors.budget_windows import BlockWindows

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from otelperf.processors.aggregator import Aggregator

__all__ = ["BudgetMonitor"]

_BREACHES = ("warning", "error", "critical")
_MAX_BREACH_SERIES = 10_000  # (budget, operation, state) triples counted; more are dropped
_EMPTY: Mapping[str, object] = MappingProxyType({})
_NO_VIEWS: Mapping[str, OperationView] = MappingProxyType({})
# The longest SLO burn window (the SRE workbook's slow pair): after a longer gap (a suspended
# process), older empty sub-windows would only be forgotten again, so they are not fed one by one.
_LONGEST_BURN_WINDOW_NS = 6 * 3600 * 1_000_000_000
_PAUSED_NS = 2**63  # a watcher threshold no span reaches


class BudgetMonitor:
    """Run a ``BudgetEvaluator`` on every aggregator tick and send its transitions as alerts.

    Register it with ``aggregator.add_tick_hook(monitor)``. The hook runs on the aggregator
    thread under the store lock, which also guards this object's state: :meth:`report` and the
    metric callbacks take the same lock through ``aggregator.with_store``, so they may be
    called from any thread. When a latency budget exists, the constructor also asks the
    aggregator for the spans over the lowest budget threshold (``watch_slow``), to link
    example traces in alerts. Fork-safe: a child starts with fresh budget states, windows and
    examples (the parent's open alerts are the parent's to resolve).
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
        """Create the monitor (it judges nothing until registered as a tick hook).

        Args:
            aggregator: Whose store is judged; its sub-window length paces ``observe`` and
                the ``over`` windows.
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
        self._live_window_s = aggregator.window_s
        # Every store key can have a series; never more (the store itself is bounded).
        self._max_series = aggregator.with_store(lambda _now, store: store.max_operations + 1)
        self._evaluate_interval_ns = round(evaluate_interval_s * 1e9)
        self._reinit()
        _fork.register(self._reinit)
        self._example_threshold_ns = self._examples.threshold_ns
        if self._example_threshold_ns is not None:
            aggregator.watch_slow(self._example_threshold_ns, self._note_slow)

    def _reinit(self) -> None:
        # Also the child's re-init: the aggregator's store starts empty there, so the budget
        # states must too, or the child would "resolve" alerts only the parent raised.
        evaluator = self._evaluator = self._make_evaluator()
        self._views: dict[str, LiveView] = {}
        self._last_slot: int | None = None  # the newest sub-window already fed to observe
        self._breaches: dict[BreachKey, int] = {}
        self._next_evaluate_ns: int | None = None
        self._windows = {
            window_s: BlockWindows(
                window_s=window_s,
                sub_window_ns=self._sub_window_ns,
                max_operations=self._max_series,
            )
            for window_s in evaluator.required_windows_s
        }
        self._selectors = evaluator.budgets_by_window_s
        self._windows_of: dict[str, tuple[BlockWindows, ...]] = {}  # operation -> its windows
        self._drops_logged = False
        self._examples = ExampleTraces(
            evaluator.budgets, key_of=self._aggregator.operation_key, max_entries=self._max_series
        )
        self._duty = ExampleDuty()
        # Unknown after a fork (the parent may have paused the watcher): the first tick sets it.
        # Not set here: this also runs in an at-fork hook, before the aggregator's re-init.
        self._watching: bool | None = None

    def __call__(self, now_ns: int, store: KeyedWindows) -> None:
        """The tick hook: observe closed sub-windows, evaluate the live window, alert."""
        self._tune_examples(now_ns)
        transitions = self._observe_closed(now_ns, store)
        if self._next_evaluate_ns is None or now_ns >= self._next_evaluate_ns:
            self._next_evaluate_ns = now_ns + self._evaluate_interval_ns
            window = self._live_views(store.all_stats(now_ns))
            longer = {window_s: blocks.views() for window_s, blocks in self._windows.items()}
            transitions += self._evaluator.evaluate(now_ns, window, windows_by_s=longer)
        for transition in transitions:
            self._count(transition)
            self._send(transition, now_ns)

    def report(self) -> list[BudgetStatus]:
        """The status of every budget as of the last tick (see ``BudgetEvaluator.report``)."""
        return self._aggregator.with_store(lambda _now_ns, _store: self._evaluator.report())

    def register_metrics(self, meter: Meter) -> None:
        """Create the observable budget instruments on ``meter`` (read at collection time)."""
        register_budget_metrics(
            meter,
            statuses=self.report,
            breaches=lambda: self._aggregator.with_store(lambda _n, _s: dict(self._breaches)),
            burn_rates=lambda: self._aggregator.with_store(
                lambda _n, _s: self._evaluator.burn_rates()
            ),
        )

    def _note_slow(self, spans: list[ReadableSpan]) -> None:
        # A bound method registered once: after a fork it reaches the child's new examples.
        self._examples.now_ns = self._aggregator.now_ns()
        self._examples(spans)

    def _tune_examples(self, now_ns: int) -> None:
        """Pause or resume the example watcher (see ``ExampleDuty``)."""
        threshold_ns = self._example_threshold_ns
        if threshold_ns is None:
            return
        watch = self._duty.after_drain(now_ns, self._examples.handed)
        self._examples.handed = 0
        if watch is not self._watching:
            self._watching = watch
            self._aggregator.retune_slow(self._note_slow, threshold_ns if watch else _PAUSED_NS)

    def _observe_closed(self, now_ns: int, store: KeyedWindows) -> list[Transition]:
        """Feed ``observe`` one mapping per closed sub-window, empty ones included, in order.

        The same sub-windows go into the ``over`` windows of the budgets that select them.
        """
        sub_ns = self._sub_window_ns
        current = now_ns // sub_ns  # the live sub-window; every earlier one is closed
        by_slot: dict[int, dict[str, SketchView]] = {}
        for key, closed in store.pop_closed(now_ns).items():
            kind = store.kind(key) or ""
            windows = self._windows_for(key, kind)
            for data in closed:
                view = SketchView(key, kind, data.sketch, data.errors)
                by_slot.setdefault(data.start_ns // sub_ns, {})[key] = view
                for blocks in windows:
                    blocks.add(key, kind, data)
        for blocks in self._windows.values():
            blocks.advance(current - 1)
            if blocks.dropped and not self._drops_logged:
                # Cannot happen while the store caps its keys at the same bound; a guard.
                self._drops_logged = True
                logger.warning(
                    "otelperf: over %d operations in the 'over %g s' budget window; "
                    "further ones are not judged over it",
                    blocks.max_operations,
                    blocks.window_s,
                )
        first = current if self._last_slot is None else self._last_slot + 1
        first = min((first, *by_slot))  # on the first tick: what closed before it
        first = max(first, current - _LONGEST_BURN_WINDOW_NS // sub_ns)
        out: list[Transition] = []
        for slot in range(first, current):
            out += self._evaluator.observe((slot + 1) * sub_ns, by_slot.get(slot, _NO_VIEWS))
        if self._last_slot is None or current - 1 > self._last_slot:
            self._last_slot = current - 1
        return out

    def _windows_for(self, key: str, kind: str) -> tuple[BlockWindows, ...]:
        """The ``over`` windows whose budgets select ``key`` (cached per key)."""
        windows = self._windows_of.get(key)
        if windows is None:
            if len(self._windows_of) >= self._max_series:
                self._windows_of.clear()  # bounded; re-matching is cheap
            windows = tuple(
                self._windows[window_s]
                for window_s, budgets in self._selectors.items()
                if _selects(budgets, key, kind)
            )
            self._windows_of[key] = windows
        return windows

    def _live_views(self, stats: Mapping[str, OperationStats]) -> dict[str, LiveView]:
        old = self._views
        views = {}
        for key, operation_stats in stats.items():
            view = old.get(key)
            if view is None or view.stats is not operation_stats:
                view = LiveView(operation_stats)
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

    def _send(self, transition: Transition, now_ns: int) -> None:
        if self._dispatcher is None:
            return
        try:
            trace_id = self._example(transition, now_ns)
            alert = to_alert(
                transition, service=self._service, resource=self._resource, trace_id=trace_id
            )
        except ValueError:
            logger.exception("otelperf: could not build an alert from %r; dropped", transition)
            return
        self._dispatcher.submit(alert)

    def _example(self, transition: Transition, now_ns: int) -> str | None:
        """A recent exported trace over the breached latency threshold, or None."""
        budget = transition.budget
        if transition.resolved or budget is None or budget.statistic == "error_rate":
            return None
        # Only an example from within the window the breach was measured over.
        window_ns = round((transition.window_s or self._live_window_s) * 1e9)
        return self._examples.find(
            transition.operation, budget.threshold, since_ns=now_ns - window_ns
        )


def _selects(budgets: tuple[Budget, ...], key: str, kind: str) -> bool:
    return any(budget.matches(key, kind, {}) for budget in budgets)
