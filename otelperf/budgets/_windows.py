"""Which ``over`` windows a latency or error-rate budget may ask for, and why others are refused.

A budget without ``over`` (or with ``over`` equal to ``window_s``) is judged on the live window.
Any other ``over`` is judged on the closed sub-windows of its own length, which the adapter
keeps per operation in at most ``MAX_BLOCKS`` merged blocks (see
``otelperf.processors.budget_windows``). Each distinct length costs that much memory per
matching operation, so lengths are bounded in size and in number; SLOs (``99%<400ms over 30d``)
keep request counts only and are not limited here.
"""

from __future__ import annotations

from collections.abc import Iterable

from otelperf.budgets._units import format_window_s
from otelperf.budgets.budget import Budget

__all__ = [
    "MAX_BLOCKS",
    "MAX_BUDGET_WINDOW_S",
    "MAX_WINDOW_LENGTHS",
    "extra_windows_s",
    "window_problem",
]

MAX_BUDGET_WINDOW_S = 6 * 3600.0
"""The longest ``over`` of a latency or error-rate budget: 6 h, the SRE workbook's longest
burn-rate window. Longer in-process windows would mostly be empty after each deploy or restart;
for days, use an SLO (``99%<250ms over 30d``) or the exported histograms in Prometheus."""

MAX_WINDOW_LENGTHS = 4
"""At most this many distinct ``over`` lengths besides ``window_s`` (each keeps its own blocks)."""

MAX_BLOCKS = 12
"""Blocks per operation and length: the window is known to 1/12 of its length (see module)."""


def extra_windows_s(budgets: Iterable[Budget], live_window_s: float) -> tuple[float, ...]:
    """Return the distinct ``over`` lengths, other than the live window, sorted.

    Args:
        budgets: The budgets; SLOs are skipped (their ``over`` is a compliance period).
        live_window_s: ``window_s``: budgets over it are judged on the live window.
    """
    lengths = {
        budget.window_s
        for budget in budgets
        if not budget.is_slo and budget.window_s is not None and budget.window_s != live_window_s
    }
    return tuple(sorted(lengths))


def window_problem(
    budgets: Iterable[Budget], *, live_window_s: float, sub_windows: int = 6
) -> tuple[Budget, str] | None:
    """Find the first budget whose ``over`` cannot be judged, and say what was expected.

    Args:
        budgets: The budgets, in the order given.
        live_window_s: ``window_s``.
        sub_windows: Sub-windows per live window (the aggregator's, 6).

    Returns:
        ``(budget, expected)``, e.g. ``(b, "an 'over' of at most 6h ...")``, or None when every
        window can be judged. Callers raise ``ConfigError(f"{origin}: {b.text!r}: expected
        {expected}")``.
    """
    sub_window_s = live_window_s / sub_windows
    seen: list[float] = []
    for budget in budgets:
        window_s = budget.window_s
        if budget.is_slo or window_s is None or window_s == live_window_s:
            continue
        if window_s < sub_window_s:
            sub, live = format_window_s(sub_window_s), format_window_s(live_window_s)
            return budget, (
                f"an 'over' of at least one sub-window ({sub} = window_s / {sub_windows}), "
                f"or no 'over' to use the live window ({live})"
            )
        if window_s > MAX_BUDGET_WINDOW_S:
            return budget, (
                f"an 'over' of at most {format_window_s(MAX_BUDGET_WINDOW_S)} (for a longer "
                "period use an SLO, e.g. '99%<250ms over 30d', or the exported histograms)"
            )
        if window_s not in seen:
            seen.append(window_s)
        if len(seen) > MAX_WINDOW_LENGTHS:
            listed = ", ".join(format_window_s(s) for s in seen)
            return budget, (
                f"at most {MAX_WINDOW_LENGTHS} distinct 'over' windows besides window_s, got "
                f"{len(seen)} ({listed})"
            )
    return None
