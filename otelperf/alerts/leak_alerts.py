"""Leak findings as alerts: when to raise one and what it says (pure; the wiring sends them)."""

from __future__ import annotations

from collections.abc import Mapping

from otelperf.alerts._format import format_duration, format_value
from otelperf.alerts.alert import Alert
from otelperf.leaks.report import BYTES_PER_MB, GrowthReport, Verdict

__all__ = ["LeakAlerter", "leak_alert", "span_leak_alert"]

_H = 3600.0
# A leak that reaches the memory limit within this many seconds is critical / an error.
_CRITICAL_ETA_S = 1 * _H
_ERROR_ETA_S = 24 * _H


def leak_alert(
    report: GrowthReport,
    *,
    rss_bytes: int,
    threshold_mb_per_h: float,
    window_s: float,
    service: str,
    resource: Mapping[str, object],
    resolved: bool = False,
) -> Alert:
    """Describe a ``leak_suspected`` report (or its end, with ``resolved``) as a ``leak`` alert.

    Severity follows the forecast: ``critical`` when the memory limit is reached within an hour,
    ``error`` within a day, ``warning`` otherwise (or when no limit is known). In deep mode the
    detail names the fastest-growing lines (``file:line``) and object types.
    """
    growth = report.growth_mb_per_h * BYTES_PER_MB
    eta = report.eta_s
    if resolved:
        severity = "resolved"
    elif eta is not None and eta <= _CRITICAL_ETA_S:
        severity = "critical"
    elif eta is not None and eta <= _ERROR_ETA_S:
        severity = "error"
    else:
        severity = "warning"
    details = [
        f"RSS {format_value(rss_bytes, 'bytes')}, confidence {report.confidence:.2f} over "
        f"{report.samples} samples"
    ]
    if eta is not None and report.limit_bytes is not None and not resolved:
        details.append(
            f"memory limit {format_value(report.limit_bytes, 'bytes')} reached in about "
            f"{format_duration(eta)}"
        )
    if report.top_sites:
        sites = ", ".join(
            f"{site.file}:{site.line} (+{format_value(site.size_diff_bytes, 'bytes')})"
            for site in report.top_sites[:3]
        )
        details.append(f"growing lines: {sites}")
    if report.top_types:
        types = ", ".join(f"{t.type_name} (+{t.count_diff})" for t in report.top_types[:3])
        details.append(f"growing types: {types}")
    return Alert(
        kind="leak",  # type: ignore[arg-type]  # Alert converts the value
        severity=severity,  # type: ignore[arg-type]
        service=service,
        statistic="rss growth",
        actual=growth,
        threshold=threshold_mb_per_h * BYTES_PER_MB,
        unit="bytes_per_h",  # type: ignore[arg-type]
        window_s=window_s,
        detail="; ".join(details),
        resource=resource,
    )


def span_leak_alert(
    names: Mapping[str, tuple[int, float]],
    *,
    after_s: float,
    service: str,
    resource: Mapping[str, object],
) -> Alert:
    """A ``span_leak`` alert for spans open longer than ``after_s``; no names means resolved.

    Args:
        names: Span name -> (open spans past ``after_s``, age of the oldest in seconds).
        after_s: The ``span_leak_after_s`` threshold.
        service: ``service.name``.
        resource: Resource attributes.
    """
    if not names:
        return Alert(
            kind="span_leak",  # type: ignore[arg-type]
            severity="resolved",  # type: ignore[arg-type]
            service=service,
            statistic="oldest open span age",
            actual=0.0,
            threshold=after_s,
            unit="s",  # type: ignore[arg-type]
            window_s=after_s,
            detail="no span is open longer than the threshold any more",
            resource=resource,
        )
    oldest = max(age for _, age in names.values())
    listed = ", ".join(
        f"{name} ×{count} (oldest {format_duration(age)})"  # noqa: RUF001 - multiplication sign
        for name, (count, age) in list(names.items())[:5]
    )
    return Alert(
        kind="span_leak",  # type: ignore[arg-type]
        severity="warning",  # type: ignore[arg-type]
        service=service,
        statistic="oldest open span age",
        actual=oldest,
        threshold=after_s,
        unit="s",  # type: ignore[arg-type]
        window_s=after_s,
        detail=f"{sum(c for c, _ in names.values())} span(s) never ended: {listed}",
        resource=resource,
    )


class LeakAlerter:
    """Decides when memory reports become alerts: on entering and on leaving ``leak_suspected``.

    ``growing`` alone does not alert (it is the recent half only; it shows in the metrics). Not
    thread-safe: one owner (the memory thread) calls :meth:`observe`.
    """

    def __init__(self) -> None:
        """Start with no leak reported."""
        self._reported = False

    def observe(self, report: GrowthReport) -> bool | None:
        """Return True to raise a leak alert, False to resolve it, None for nothing to send."""
        leaking = report.verdict == Verdict.LEAK_SUSPECTED
        if leaking and not self._reported:
            self._reported = True
            return True
        if self._reported and report.verdict in (Verdict.STABLE, Verdict.INSUFFICIENT_DATA):
            self._reported = False
            return False
        return None
