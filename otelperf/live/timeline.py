"""Per-operation latency over time: fixed-width time bins of exponential sketches.

Each bin holds the merged sketch of the requests that ended in it, with error counts, so a
window (the live view's last 10 s) or the whole run is a merge of bins, and each bin gives one
point of the "percentiles over time" plot. Memory is bounded: when the bins of all operations
span more than ``max_bins`` widths, the width doubles and neighbouring bins merge (exactly, since
they are sketches), so a long ``otelperf top`` session keeps its whole history at a coarser
resolution.

Errors come two ways. An exact count (in-process data) is kept per bin; sources that do not
count errors (OTLP metrics carry none) leave it unknown, and the error rate is then estimated
from the exported spans of the operation (errors among sampled spans), which head sampling does
not bias.

Pure and single-threaded: the caller passes times (Unix seconds) and owns the lock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from otelperf.aggregates import ExpSketch

__all__ = ["BinView", "Timeline", "WindowRead"]

_QUANTILES = (0.5, 0.95, 0.99)


class _Bin:
    __slots__ = ("count_cache", "errors", "quantiles", "sampled", "sampled_errors", "sketch")

    def __init__(self) -> None:
        self.sketch = ExpSketch()
        self.errors: int | None = 0  # None once a contribution came without an error count
        self.sampled = 0  # exported spans seen, and how many of them were errors
        self.sampled_errors = 0
        self.quantiles: tuple[float, float, float] = (math.nan, math.nan, math.nan)
        self.count_cache = -1  # sketch count the cached quantiles were read at

    def merge(self, other: _Bin) -> None:
        self.sketch.merge(other.sketch)
        self.errors = (
            None if self.errors is None or other.errors is None else (self.errors + other.errors)
        )
        self.sampled += other.sampled
        self.sampled_errors += other.sampled_errors
        self.count_cache = -1

    def read_quantiles(self) -> tuple[float, float, float]:
        if self.count_cache != self.sketch.count:
            p50, p95, p99 = self.sketch.quantiles(_QUANTILES)
            self.quantiles, self.count_cache = (p50, p95, p99), self.sketch.count
        return self.quantiles


@dataclass(frozen=True, slots=True)
class BinView:
    """One bin of one operation, read out: start, width, count, error rate, p50/p95/p99 (s)."""

    start_s: float
    width_s: float
    count: int
    error_rate: float
    p50_s: float
    p95_s: float
    p99_s: float


@dataclass(frozen=True, slots=True)
class WindowRead:
    """Merged bins: the sketch (seconds), errors (exact or estimated) and the covered span.

    ``span_s`` runs from the first bin read to the end of the newest bin of any operation (or
    ``end_s``), so ``count / span_s`` is a rate over whole bins.
    """

    sketch: ExpSketch
    errors: float
    errors_estimated: bool
    span_s: float


def _error_rate(count: int, errors: int | None, sampled: int, sampled_errors: int) -> float:
    if errors is not None:
        return errors / count if count else 0.0
    return sampled_errors / sampled if sampled else 0.0


class Timeline:
    """Bins of ``bin_s`` seconds per operation, at most ``max_bins`` widths overall."""

    def __init__(self, *, bin_s: float = 1.0, max_bins: int = 256) -> None:
        """Create an empty timeline.

        Raises:
            ValueError: ``bin_s`` is not positive or ``max_bins`` is below 2.
        """
        if not bin_s > 0:
            raise ValueError(f"bin_s must be > 0, got {bin_s!r}")
        if max_bins < 2:
            raise ValueError(f"max_bins must be >= 2, got {max_bins!r}")
        self._bin_s = float(bin_s)
        self._max_bins = max_bins
        self._bins: dict[str, dict[int, _Bin]] = {}
        self._low: int | None = None  # smallest and largest bin index in use
        self._high: int | None = None

    @property
    def bin_s(self) -> float:
        """The current bin width in seconds (it doubles as history grows)."""
        return self._bin_s

    def operations(self) -> list[str]:
        """Every operation with at least one bin, in first-seen order."""
        return list(self._bins)

    def add(self, operation: str, t_s: float, sketch: ExpSketch, *, errors: int | None) -> None:
        """Merge ``sketch`` (durations in seconds ending at ``t_s``) into its bin.

        ``errors`` is the exact error count among them, or None when the source does not say.
        """
        target = self._bin(operation, t_s)
        target.sketch.merge(sketch)
        target.errors = None if target.errors is None or errors is None else target.errors + errors

    def add_spans(self, operation: str, t_s: float, *, spans: int, errors: int) -> None:
        """Count exported spans of ``operation`` (and how many were errors) for error rates."""
        target = self._bin(operation, t_s)
        target.sampled += spans
        target.sampled_errors += errors

    def read(self, operation: str, start_s: float, end_s: float) -> WindowRead:
        """Merge the whole bins of ``operation`` that start in ``[start_s, end_s)``."""
        sketch, errors, sampled, sampled_errors = ExpSketch(), 0, 0, 0
        exact = True
        own = self._bins.get(operation, {})
        # Only whole bins: the first one starting at or after start_s.
        first = (
            math.ceil(start_s / self._bin_s - 1e-9)
            if math.isfinite(start_s)
            else min(own, default=0)
        )
        for index, data in own.items():
            if index >= first and index * self._bin_s < end_s:
                sketch.merge(data.sketch)
                exact = exact and data.errors is not None
                errors += data.errors or 0
                sampled += data.sampled
                sampled_errors += data.sampled_errors
        count = sketch.count
        rate = _error_rate(count, errors if exact else None, sampled, sampled_errors)
        newest = first if self._high is None else self._high
        end = min(end_s, (newest + 1) * self._bin_s)
        errors_read = count * rate if not exact else float(errors)
        return WindowRead(sketch, errors_read, not exact, max(end - first * self._bin_s, 0.0))

    def bins(self, operation: str, *, last: int | None = None) -> list[BinView]:
        """The bins of ``operation`` in time order (empty bins in between included).

        Args:
            operation: The operation.
            last: Only the newest ``last`` bin widths up to the newest bin of any operation.
        """
        own = self._bins.get(operation)
        if not own or self._high is None or self._low is None:
            return []
        low = self._low if last is None else max(self._low, self._high - last + 1)
        out = []
        for index in range(low, self._high + 1):
            data = own.get(index)
            start = index * self._bin_s
            if data is None or data.sketch.count == 0:
                out.append(BinView(start, self._bin_s, 0, 0.0, math.nan, math.nan, math.nan))
                continue
            count = data.sketch.count
            rate = _error_rate(count, data.errors, data.sampled, data.sampled_errors)
            out.append(BinView(start, self._bin_s, count, rate, *data.read_quantiles()))
        return out

    def span(self) -> tuple[float, float] | None:
        """Start of the oldest and end of the newest bin, or None when empty."""
        if self._low is None or self._high is None:
            return None
        return self._low * self._bin_s, (self._high + 1) * self._bin_s

    def _bin(self, operation: str, t_s: float) -> _Bin:
        index = math.floor(t_s / self._bin_s)
        self._low = index if self._low is None else min(self._low, index)
        self._high = index if self._high is None else max(self._high, index)
        while self._high - self._low + 1 > self._max_bins:
            self._coarsen()
            index = math.floor(t_s / self._bin_s)
        own = self._bins.setdefault(operation, {})
        found = own.get(index)
        if found is None:
            found = own[index] = _Bin()
        return found

    def _coarsen(self) -> None:
        """Double the bin width, merging bin pairs ``2k`` and ``2k + 1`` of every operation."""
        self._bin_s *= 2
        assert self._low is not None and self._high is not None
        self._low, self._high = self._low // 2, self._high // 2
        for operation, own in self._bins.items():
            merged: dict[int, _Bin] = {}
            for index in sorted(own):
                data = own[index]
                target = merged.get(index // 2)
                if target is None:
                    merged[index // 2] = data
                else:
                    target.merge(data)
            self._bins[operation] = merged
