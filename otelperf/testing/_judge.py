"""Judge a budget over the spans of one test, with production's selectors and severities.

Pure: no ``opentelemetry`` import, no clock, no I/O; spans arrive as ``SpanSample`` records.

Statistics are **exact**, not read from otelperf's ``ExpSketch``: a test holds tens to thousands
of spans, so sorting them is cheap; exact numbers are what a person recomputes from the spans, and
an assertion near its threshold cannot flip on the sketch's error (<= 0.55 %). They follow the
rule ``otelperf.stats()`` follows (linear interpolation between the two nearest samples, numpy's
default), so a value here and the live one differ at most by the sketch's bound.

Verdicts follow the evaluator: a latency or error-rate budget is judged per operation (span
name), and breaks when the value exceeds ``warning_ratio`` x threshold (``warning``,
``error``, ``critical`` by the budget's ratios). An operation with fewer spans than the budget's
``min`` is not judged; the check fails for lack of data only when no operation could be judged.
An SLO (``99%<400ms``) pools every matching span, as in production, and breaks when the fraction
at or under the threshold is below the objective; burn-rate windows do not apply to one test.
``over`` windows are ignored: the window is the test.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from otelperf.budgets import Budget, State
from otelperf.budgets._tracks import climb
from otelperf.budgets.budget import QUANTILES
from otelperf.testing._message import render
from otelperf.testing._results import BudgetCheck, OperationResult, Outcome, SpanSample

__all__ = ["judge", "quantile"]

_SLOWEST = 3
_LEVELS: tuple[State, ...] = ("ok", "warning", "error", "critical")


def quantile(ordered: Sequence[float], q: float) -> float:
    """Return the ``q`` quantile of sorted values: linear between the two nearest samples.

    Raises:
        ValueError: ``ordered`` is empty or ``q`` is outside [0, 1].
    """
    if not ordered or not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile of {len(ordered)} values at q={q!r}: need values, q in [0, 1]")
    rank = q * (len(ordered) - 1)
    below = math.floor(rank)
    if below == len(ordered) - 1:
        return ordered[below]
    low, high = ordered[below], ordered[below + 1]
    return low + (high - low) * (rank - below)


@dataclass
class _Group:
    kinds: set[str] = field(default_factory=set)
    samples: list[SpanSample] = field(default_factory=list)


def judge(budget: Budget, samples: Iterable[SpanSample], *, hint: str = "") -> BudgetCheck:
    """Check one budget against spans and explain the verdict.

    Args:
        budget: The budget; its ``over`` window is ignored (the window is the test).
        samples: The spans to read, in any order.
        hint: Added to the message when there is no span at all (where spans come from).

    Returns:
        The check, with its rendered ``message``.
    """
    seen: Counter[tuple[str, str]] = Counter()
    groups: dict[str, _Group] = {}
    total = 0
    for sample in samples:
        total += 1
        seen[sample.name, sample.kind] += 1
        if budget.matches(sample.name, sample.kind, sample.attributes):
            group = groups.setdefault(sample.name, _Group())
            group.kinds.add(sample.kind)
            group.samples.append(sample)
    judged = not budget.is_slo
    rows = [_row(budget, name, group, judged=judged) for name, group in groups.items()]
    rows.sort(key=_severity, reverse=True)
    matched = sum(row.count for row in rows)
    compliance = _compliance(budget, groups.values()) if budget.is_slo else None
    outcome = _outcome(budget, rows, matched, compliance)
    check = BudgetCheck(
        budget=budget,
        outcome=outcome,
        operations=tuple(rows),
        seen=tuple((name, kind, n) for (name, kind), n in seen.most_common()),
        total=total,
        matched=matched,
        compliance=compliance,
    )
    return replace(check, message=render(check, hint=hint))


def _row(budget: Budget, name: str, group: _Group, *, judged: bool) -> OperationResult:
    samples = group.samples
    durations = sorted(sample.duration_ms for sample in samples)
    count, errors = len(samples), sum(sample.error for sample in samples)
    actual: float | None = None
    state: State | None = None
    if not judged:  # an SLO row: judged with the other rows, in _compliance
        actual = sum(duration <= budget.threshold for duration in durations) / count
    elif count >= budget.min_samples:
        actual = _statistic(budget, durations, errors)
        state = _state(budget, actual)
    else:
        state = "insufficient_data"
    mean = math.fsum(durations) / count
    p50, p90, p95, p99 = (quantile(durations, q) for q in (0.5, 0.9, 0.95, 0.99))
    return OperationResult(
        operation=name,
        kind=next(iter(group.kinds)) if len(group.kinds) == 1 else "mixed",
        count=count,
        errors=errors,
        # The float sum can round the mean just outside [min, max] when all values are equal.
        mean_ms=min(max(mean, durations[0]), durations[-1]),
        p50_ms=p50,
        p90_ms=p90,
        p95_ms=p95,
        p99_ms=p99,
        max_ms=durations[-1],
        actual=actual,
        ratio=None if actual is None or not judged else actual / budget.threshold,
        state=state,
        slowest=tuple(sorted(samples, key=_duration, reverse=True)[:_SLOWEST]),
    )


def _statistic(budget: Budget, durations: list[float], errors: int) -> float:
    statistic = budget.statistic
    if statistic in QUANTILES:
        return quantile(durations, QUANTILES[statistic])
    if statistic == "avg":
        return min(max(math.fsum(durations) / len(durations), durations[0]), durations[-1])
    if statistic == "max":
        return durations[-1]
    return errors / len(durations)  # error_rate


def _state(budget: Budget, actual: float) -> State:
    ratios = (budget.warning_ratio, budget.error_ratio, budget.critical_ratio)
    bounds = tuple(ratio * budget.threshold for ratio in ratios)
    return _LEVELS[climb((actual, actual, actual), (bounds[0], bounds[1], bounds[2]), 0)]


def _compliance(budget: Budget, groups: Iterable[_Group]) -> float | None:
    durations = [sample.duration_ms for group in groups for sample in group.samples]
    if len(durations) < budget.min_samples:
        return None
    good = sum(duration <= budget.threshold for duration in durations)
    return good / len(durations)


def _outcome(
    budget: Budget, rows: list[OperationResult], matched: int, compliance: float | None
) -> Outcome:
    if not matched:
        return "no_match"
    if budget.is_slo:
        if compliance is None:
            return "insufficient_data"
        return "passed" if compliance >= (budget.objective or 0.0) else "failed"
    states = {row.state for row in rows}
    if states - {"ok", "insufficient_data"}:
        return "failed"
    return "passed" if "ok" in states else "insufficient_data"


def _severity(row: OperationResult) -> tuple[float, int]:
    """Sort key: broken operations by ratio, then the ones not judged, then by traffic."""
    ratio = row.ratio if row.ratio is not None else -1.0
    return ratio, row.count


def _duration(sample: SpanSample) -> float:
    return sample.duration_ms
