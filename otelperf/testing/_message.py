"""Render a ``BudgetCheck`` as the message a failing test shows.

Pure text formatting. The first line is the verdict (budget text, the value that decided, the
span count and how far over the threshold it is); then one table row per matching operation
with its exact percentiles, and the slowest spans with their trace ids; for a selector that
matched nothing, the operations that were seen instead.
"""

from __future__ import annotations

import difflib
from dataclasses import replace

from otelperf.budgets import Budget
from otelperf.budgets._units import format_latency_ms
from otelperf.testing._results import BudgetCheck, OperationResult

__all__ = ["render"]

_MAX_SEEN = 10
_HEADER = ("operation", "kind", "spans", "errors", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "max ms")


def render(check: BudgetCheck, *, hint: str = "") -> str:
    """Return the message for ``check``; ``hint`` says where spans come from (no-span case)."""
    lines = [_headline(check, hint)]
    if check.operations:
        lines.extend(_table(check))
        if check.budget.statistic != "error_rate":
            lines.append(_slowest(check))
    elif check.seen:
        lines.append(_seen(check))
    return "\n".join(lines)


def _headline(check: BudgetCheck, hint: str) -> str:
    budget, rows = check.budget, check.operations
    text = budget.text
    if check.outcome == "no_match":
        if not check.total:
            return f"{text}: no span ended while recording{hint}"
        return (
            f"{text}: no span matched the selector {budget.selector!r} ({_selects(budget)}) among "
            f"the {_count(check.total)} that ended{_near_miss(check)}"
        )
    if budget.is_slo:
        return _slo_headline(check)
    if check.outcome == "insufficient_data":
        return _too_few(check)
    judged = [row for row in rows if row.actual is not None]
    broken = [row for row in judged if row.state not in ("ok", "insufficient_data")]
    worst = (broken or judged)[0]
    verdict = "failed" if broken else "passed"
    line = f"{text} {verdict}: {_value(budget, worst)}"
    ratio, state = worst.ratio or 0.0, worst.state
    if broken:
        line += f": {ratio:.2f}x the threshold ({state})"
    if len(judged) > 1:
        line += f"; {len(broken)} of {len(judged)} judged operations over budget"
    return line


def _value(budget: Budget, row: OperationResult) -> str:
    of = "" if budget.selector == row.operation else f" of {row.operation!r}"
    if budget.statistic == "error_rate":
        return (
            f"error_rate = {_percent(row.actual or 0.0)} "
            f"({row.errors} of {_count(row.count)}{of} had an ERROR status)"
        )
    actual = row.actual or 0.0
    return (
        f"{budget.statistic} = {_ms(actual)} ms over {_count(row.count)}{of} "
        f"(p50 {_ms(row.p50_ms)}, p99 {_ms(row.p99_ms)}, max {_ms(row.max_ms)} ms)"
    )


def _slo_headline(check: BudgetCheck) -> str:
    budget = check.budget
    limit = format_latency_ms(budget.threshold)
    objective = budget.objective or 0.0
    if check.compliance is None:
        return (
            f"{budget.text}: not enough spans to judge: {_count(check.matched)} matched, the "
            f"budget needs min {budget.min_samples}; {_fewer(budget, check.matched)}"
        )
    slower = round((1.0 - check.compliance) * check.matched)
    verdict = "passed" if check.passed else "failed"
    line = (
        f"{budget.text} {verdict}: {_percent(check.compliance)} of {_count(check.matched)} took "
        f"<= {limit} (objective {_percent(objective)}); {slower} were slower"
    )
    if not check.passed:
        used = (1.0 - check.compliance) / (1.0 - objective)
        line += f": {used:.2f}x the error budget"
    return line


def _too_few(check: BudgetCheck) -> str:
    budget, rows = check.budget, check.operations
    counts = ", ".join(f"{row.operation!r} has {row.count}" for row in rows[:_MAX_SEEN])
    most = max(row.count for row in rows)
    return (
        f"{budget.text}: not enough spans to judge: {counts}; the budget needs min "
        f"{budget.min_samples} per operation; {_fewer(budget, most)}"
    )


def _fewer(budget: Budget, count: int) -> str:
    suggestion = replace(budget, min_samples=max(count, 1)).text
    return f"produce more, or judge fewer with {suggestion!r}"


def _selects(budget: Budget) -> str:
    if budget.selector.startswith("kind="):
        return "span kind"
    if budget.selector.startswith("attr."):
        return "span attribute, compared as text"
    return "span name, case-sensitive"


def _near_miss(check: BudgetCheck) -> str:
    selector = check.budget.selector
    if selector.startswith(("kind=", "attr.")) or any(char in selector for char in "*?["):
        return ""
    names = list(dict.fromkeys(name for name, _kind, _n in check.seen))
    close = difflib.get_close_matches(selector, names, n=3, cutoff=0.8)
    return f"; did you mean {' or '.join(repr(name) for name in close)}?" if close else ""


def _seen(check: BudgetCheck) -> str:
    shown = [f"{name!r} ({kind}, {n})" for name, kind, n in check.seen[:_MAX_SEEN]]
    more = len(check.seen) - len(shown)
    tail = f" and {more} more" if more > 0 else ""
    return "  operations seen: " + ", ".join(shown) + tail


def _table(check: BudgetCheck) -> list[str]:
    rows: list[tuple[str, ...]] = [(*_HEADER, "verdict")]
    for row in check.operations:
        numbers = (row.p50_ms, row.p90_ms, row.p95_ms, row.p99_ms, row.max_ms)
        names = (row.operation, row.kind, str(row.count), str(row.errors))
        rows.append((*names, *(_ms(n) for n in numbers), _verdict(check.budget, row)))
    widths = [max(len(cells[i]) for cells in rows) for i in range(len(_HEADER) + 1)]
    lines = []
    for cells in rows:
        padded = [
            cell.ljust(width) if i in (0, 1, len(widths) - 1) else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        lines.append(("  " + "  ".join(padded)).rstrip())
    return lines


def _verdict(budget: Budget, row: OperationResult) -> str:
    if row.state is None:  # an SLO row: judged with the others
        return f"{_percent(row.actual or 0.0)} within"
    if row.state == "insufficient_data":
        return f"not judged: {row.count} < min {budget.min_samples}"
    return f"{row.state} ({row.ratio or 0.0:.2f}x)"


def _slowest(check: BudgetCheck) -> str:
    samples = sorted(
        (sample for row in check.operations for sample in row.slowest),
        key=lambda sample: sample.duration_ms,
        reverse=True,
    )[:3]
    named = len(check.operations) > 1
    parts = []
    for sample in samples:
        name = f" {sample.name!r}" if named else ""
        trace = f" (trace {sample.trace_id})" if sample.trace_id else ""
        parts.append(f"{_ms(sample.duration_ms)} ms{name}{trace}")
    return "  slowest: " + ", ".join(parts)


def _count(n: int) -> str:
    return f"{n} span" if n == 1 else f"{n} spans"


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 1 else f"{value:.3g}"


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.4g}%"
