"""The data a report holds, as plain frozen records that round-trip through JSON.

A report is built from the live fleet view (``otelperf demo``, ``otelperf top``) or from the
in-process store (``otelperf.report()``) and rendered as JSON, CSV or HTML. The JSON form is the
interchange format: ``otelperf report saved.json --format html`` renders a saved report again.

Pure: no ``opentelemetry`` import, no I/O. Times are Unix seconds, durations milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

__all__ = [
    "SCHEMA",
    "AlertEntry",
    "BudgetPoint",
    "Distribution",
    "MemoryPoint",
    "OperationReport",
    "OperationSummary",
    "Regression",
    "ReportData",
    "SeriesPoint",
]

SCHEMA = "otelperf.report.v1"
"""The ``schema`` tag of the JSON form."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class OperationSummary:
    """One operation over the whole report: counts, percentiles and its worst budget state.

    ``errors`` is exact when the source counts errors (in-process) and an estimate from the
    exported spans otherwise (``errors_estimated``). ``budget_state`` is the state at the end
    (``ok``, ``warning``, ``error``, ``critical``, ``insufficient_data``) or ``""`` without
    budgets.
    """

    operation: str
    kind: str
    count: int
    errors: float
    error_rate: float
    errors_estimated: bool
    rps: float
    min_ms: float
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    budget_state: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SeriesPoint:
    """One time bin of one operation: requests ending in ``[t_s, t_s + width_s)``."""

    t_s: float
    width_s: float
    count: int
    error_rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Distribution:
    """The latency histogram of one operation: ``counts[i]`` durations in ``(lower, upper]``."""

    lower_ms: tuple[float, ...] = ()
    upper_ms: tuple[float, ...] = ()
    counts: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class OperationReport:
    """Everything the report says about one operation."""

    summary: OperationSummary
    series: tuple[SeriesPoint, ...] = ()
    distribution: Distribution = field(default_factory=Distribution)


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetPoint:
    """The state of one budget for one operation at ``t_s``."""

    t_s: float
    budget: str
    operation: str
    state: str
    actual: float | None = None
    ratio: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryPoint:
    """Resident memory of one process (``source``) at ``t_s``."""

    t_s: float
    source: str
    rss_bytes: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertEntry:
    """An alert as shown to a human: when, from where, how bad, and its one-line title."""

    t_s: float
    source: str
    kind: str
    severity: str
    title: str
    operation: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Regression:
    """An operation whose p95 late in the report is ``ratio`` times its p95 early on."""

    operation: str
    before_p95_ms: float
    after_p95_ms: float
    ratio: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportData:
    """A whole report. ``to_dict``/``from_dict`` give its JSON form (``SCHEMA``)."""

    title: str
    generated_s: float
    started_s: float
    ended_s: float
    window_s: float
    sources: int
    operations: tuple[OperationReport, ...] = ()
    budgets: tuple[BudgetPoint, ...] = ()
    memory: tuple[MemoryPoint, ...] = ()
    alerts: tuple[AlertEntry, ...] = ()
    regressions: tuple[Regression, ...] = ()
    notes: tuple[str, ...] = ()

    def operation(self, name: str) -> OperationReport | None:
        """The operation named ``name``, or None."""
        return next((op for op in self.operations if op.summary.operation == name), None)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict (non-finite numbers become None)."""
        return {"schema": SCHEMA, **_finite(asdict(self))}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReportData:
        """Rebuild a report from ``to_dict()`` output.

        Raises:
            ValueError: ``data`` is not an otelperf report of this schema.
        """
        if data.get("schema") != SCHEMA:
            raise ValueError(
                f"not an otelperf report: schema {data.get('schema')!r}, expected {SCHEMA!r}"
            )
        try:
            operations = tuple(
                OperationReport(
                    summary=_build(OperationSummary, op["summary"]),
                    series=tuple(_build(SeriesPoint, p) for p in op["series"]),
                    distribution=_build(Distribution, op["distribution"]),
                )
                for op in data["operations"]
            )
            return cls(
                **{k: data[k] for k in ("title", "generated_s", "started_s", "ended_s")},
                window_s=data["window_s"],
                sources=data["sources"],
                operations=operations,
                budgets=tuple(_build(BudgetPoint, p) for p in data["budgets"]),
                memory=tuple(_build(MemoryPoint, p) for p in data["memory"]),
                alerts=tuple(_build(AlertEntry, p) for p in data["alerts"]),
                regressions=tuple(_build(Regression, p) for p in data["regressions"]),
                notes=tuple(data["notes"]),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"malformed otelperf report: {error!r}") from None


def _build(cls: type[T], raw: Mapping[str, Any]) -> T:
    names = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    values = {}
    for name, value in raw.items():
        if name not in names:
            continue
        if value is None and name.endswith("_ms"):
            value = math.nan  # a NaN written as null comes back as NaN
        values[name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
