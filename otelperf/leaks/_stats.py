"""Robust statistics on short time series: Theil-Sen, running floor, steadiness, level.

Pure functions on parallel sequences ``ts`` (seconds, strictly increasing) and ``ys`` (values).
Quadratic in the number of points where noted; callers keep that number small (~120).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Sequence
from itertools import pairwise

__all__ = ["running_floor", "steady_rise", "theil_sen", "upper_level"]


def theil_sen(ts: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Theil-Sen slope and the share of rising pairs. O(n²) time and memory.

    Args:
        ts: Strictly increasing times in seconds.
        ys: Values at those times.

    Returns:
        ``(slope, confidence)``: the median of the slopes between every pair of points (per second),
        and the fraction of those slopes that are positive, ties counted half. ``(0.0, 0.0)`` with
        fewer than two points.
    """
    slopes: list[float] = []
    n = len(ts)
    for i in range(n - 1):
        ti, yi = ts[i], ys[i]
        slopes.extend([(ys[j] - yi) / (ts[j] - ti) for j in range(i + 1, n)])
    if not slopes:
        return 0.0, 0.0
    slopes.sort()
    m = len(slopes)
    mid = m // 2
    median = slopes[mid] if m % 2 else (slopes[mid - 1] + slopes[mid]) / 2.0
    negative, non_positive = bisect_left(slopes, 0.0), bisect_right(slopes, 0.0)
    rising = m - non_positive + (non_positive - negative) / 2.0
    return median, rising / m


def running_floor(ts: Sequence[float], ys: Sequence[float], *, width_s: float) -> list[float]:
    """Minimum of ``ys`` over a centred time window of ``width_s`` around each point. O(n).

    A GC sawtooth shorter than ``width_s`` becomes the line through its troughs; a trend and a step
    keep their shape (a step moves by at most ``width_s / 2``).
    """
    half = width_s / 2.0
    window: deque[int] = deque()  # indices of candidate minima, values increasing front to back
    floor: list[float] = []
    ahead, n = 0, len(ts)
    for t in ts:
        while ahead < n and ts[ahead] <= t + half:
            while window and ys[window[-1]] >= ys[ahead]:
                window.pop()
            window.append(ahead)
            ahead += 1
        while ts[window[0]] < t - half:
            window.popleft()
        floor.append(ys[window[0]])
    return floor


def steady_rise(
    ts: Sequence[float],
    ys: Sequence[float],
    *,
    slices: int,
    max_share: float,
    min_share: float = 0.0,
) -> bool:
    """Whether the minima of ``slices`` equal time slices rise steadily.

    Steady: every slice holds a point, the last minimum is above the first, at most one
    slice-to-slice increment is not a rise (a rise is positive and at least ``min_share`` of the
    total rise), and none carries more than ``max_share`` of the total rise. A leak passes; a step
    (all of its rise in one increment), a sawtooth (minima going up and down) and, with
    ``min_share``, a ramp over two slices between slow creeps (small increments elsewhere) fail.
    """
    if len(ts) < 2 or slices < 2:
        return False
    start, span = ts[0], ts[-1] - ts[0]
    minima: list[float | None] = [None] * slices
    for t, y in zip(ts, ys, strict=True):
        i = min(int((t - start) / span * slices), slices - 1)
        current = minima[i]
        minima[i] = y if current is None else min(current, y)
    lows = [m for m in minima if m is not None]
    if len(lows) < slices:  # a gap in the data: say nothing about steadiness
        return False
    rise = lows[-1] - lows[0]
    steps = [b - a for a, b in pairwise(lows)]
    return (
        rise > 0
        and sum(1 for step in steps if step > 0 and step >= min_share * rise) >= len(steps) - 1
        and max(steps) <= max_share * rise
    )


def upper_level(ts: Sequence[float], ys: Sequence[float], *, rate: float, quantile: float) -> float:
    """The ``quantile`` of the points projected to the last time along ``rate`` (per second).

    With ``rate`` the growth rate, this is "where the peaks are now", the level that meets a limit.

    Raises:
        IndexError: If ``ts`` is empty.
    """
    t_last = ts[-1]
    projected = sorted(y + rate * (t_last - t) for t, y in zip(ts, ys, strict=True))
    return projected[min(len(projected) - 1, int(quantile * len(projected)))]
