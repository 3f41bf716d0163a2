"""Regressions of operations that no budget covers: window p95 against their own EWMA baseline.

The baseline learns from closed sub-windows (about 10 s each) with at least ``min_samples``
requests: the first p95 seeds it, then ``baseline += alpha * (p95 - baseline)``. It is judged only
after ``warmup_windows`` such sub-windows, and it stops learning while the operation is
regressed, so a regression is not absorbed into the baseline it is measured against. The live
window's p95 is then judged like a p95 budget whose threshold is ``factor x baseline`` (default
ratios and hysteresis).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from otelperf.budgets._tracks import Track, Tracks, climb
from otelperf.budgets._view import OperationView
from otelperf.budgets.events import State, Transition

__all__ = ["RegressionDetector"]


class _Baseline:
    __slots__ = ("p95_ms", "windows")

    def __init__(self, p95_ms: float) -> None:
        self.p95_ms = p95_ms
        self.windows = 1


class RegressionDetector:
    """Per-operation p95 baselines and regression alert states (bounded by ``max_operations``)."""

    __slots__ = (
        "_alpha",
        "_baselines",
        "_factor",
        "_interval_ns",
        "_max_operations",
        "_min_samples",
        "_tracks",
        "_warmup",
        "_window_s",
    )

    def __init__(
        self,
        *,
        factor: float,
        min_samples: int,
        warmup_windows: int,
        alpha: float,
        max_operations: int,
        window_s: float,
        interval_ns: int,
    ) -> None:
        """Store the (already checked) settings; see ``BudgetEvaluator`` for their meaning."""
        self._factor = factor
        self._min_samples = min_samples
        self._warmup = warmup_windows
        self._alpha = alpha
        self._max_operations = max_operations
        self._window_s = window_s
        self._interval_ns = interval_ns
        self._baselines: dict[str, _Baseline] = {}
        self._tracks: Tracks[str] = Tracks()

    def learn(
        self, closed: Mapping[str, OperationView], covered: Callable[[str, OperationView], bool]
    ) -> None:
        """Fold each uncovered operation's sub-window p95 into its baseline."""
        for name, view in closed.items():
            if view.count < self._min_samples or covered(name, view):
                continue
            p95_ms = view.quantile(0.95)
            baseline = self._baselines.pop(name, None)  # re-inserted last: least recent first
            if baseline is None:
                if len(self._baselines) >= self._max_operations:
                    del self._baselines[next(iter(self._baselines))]
                baseline = _Baseline(p95_ms)
            else:
                track = self._tracks.tracks.get(name)
                if track is None or track.level == 0:
                    baseline.p95_ms += self._alpha * (p95_ms - baseline.p95_ms)
                    baseline.windows += 1
            self._baselines[name] = baseline

    def judge(
        self, tick: int, now_ns: int, window: Mapping[str, OperationView], out: list[Transition]
    ) -> None:
        """Judge the live window of every warmed-up operation; append transitions to ``out``."""
        factor = self._factor
        for name, view in window.items():
            baseline = self._baselines.get(name)
            # A 0 ms baseline (below the sketch's resolution) gives no meaningful ratio.
            if baseline is None or baseline.windows < self._warmup or baseline.p95_ms <= 0:
                continue
            track = self._tracks.get(name, tick)
            if view.count < self._min_samples:
                track.no_data(silent=view.count == 0)
            else:
                value, limit = view.quantile(0.95), factor * baseline.p95_ms
                bounds = (limit, 1.5 * limit, 2.0 * limit)
                track.measured(value, climb((value, value, value), bounds, track.level))
            self._tracks.changed(name, track)

        def emit(name: str, track: Track, previous: State) -> None:
            baseline = self._baselines.get(name)
            baseline_ms = baseline.p95_ms if baseline is not None else math.nan
            threshold = factor * baseline_ms
            out.append(
                Transition(
                    kind="regression",
                    operation=name,
                    state=track.alert_state,
                    previous=previous,
                    budget=None,
                    budget_text=f"p95<{factor:g}x baseline",
                    actual=track.actual,
                    threshold=threshold,
                    unit="ms",
                    ratio=None if track.actual is None else track.actual / threshold,
                    baseline_ms=baseline_ms,
                    window_s=self._window_s,
                    at_ns=now_ns,
                )
            )

        self._tracks.settle(tick, now_ns, self._interval_ns, emit)

    def sweep(self, tick: int, now_ns: int) -> None:
        """Forget alert states of operations that left the window."""
        self._tracks.sweep(tick, now_ns, self._interval_ns)
