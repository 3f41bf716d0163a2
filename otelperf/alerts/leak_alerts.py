"""Leak findings as alerts: when to raise one and what it says (pure; the wiring sends them)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from otelperf.alerts._format import format_duration, format_value
from otelperf.alerts.alert import Alert
from otelperf.leaks.report import BYTES_PER_MB, GrowthReport, Verdict

__all__ = ["LeakAlerter", "leak_alert", "leak_severity", "span_leak_alert"]

_H = 3600.0
# A leak that reaches the memory limit within this many seconds is critical / an error.
_CRITICAL_ETA_S = 1 * _H
_ERROR_ETA_S = 24 * _H
_RANK = {"warning": 1, "error": 2, "critical": 3}


def leak_severity(report: GrowthReport) -> str:
    """How bad a suspected leak is, by its forecast.

    Returns:
        ``critical`` when the memory limit is reached within an hour, ``error`` within a day,
        ``warning`` otherwise or when no limit (or no ETA) is known.
    """
    eta = report.eta_s
    if eta is not None and eta <= _CRITICAL_ETA_S:
        return "critical"
    if eta is not None and eta <= _ERROR_ETA_S:
        return "error"
    return "warning"


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

    Severity follows the forecast (:func:`leak_severity`). In deep mode the detail names the
    fastest-growing lines (``file:line``) and object types.
    """
    # The current rate (see GrowthReport.rate_bytes_per_s), so figure and ETA agree; the window's
    # own trend is otelperf.memory.growth_rate. A resolved report has no rate: its window trend.
    growth = report.rate_bytes_per_s * _H or report.growth_mb_per_h * BYTES_PER_MB
    eta = report.eta_s
    severity = "resolved" if resolved else leak_severity(report)
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
    """Decides when memory reports become ``leak`` alerts. Pure; fed by one thread.

    An alert is raised on entering ``leak_suspected``; raised again while it lasts when its
    severity rises (the ETA to the memory limit shrinks below a day, then an hour) or when deep
    mode names another line as the fastest-growing one; and resolved once the verdict is back to
    ``stable``. ``growing`` alone neither raises nor resolves: it is the recent half only, and
    shows in the metrics. ``insufficient_data`` does not resolve either: samples missing from the
    window (a busy or paused memory thread) say nothing about the leak. A lower severity is not
    sent (the alert stays open at the level it reached). A new owner (a forked child) starts with
    a new alerter.

    At most one alert per ``interval_s`` (the ``alert_interval_s`` setting): a change found
    sooner is held back and sent by a later report if it still stands, so a trend hovering at the
    threshold cannot flood the sinks.
    """

    def __init__(self, *, interval_s: float = 60.0) -> None:
        """Start with no leak reported.

        Args:
            interval_s: Least time between two alerts, in seconds (>= 0).

        Raises:
            ValueError: If ``interval_s`` is negative or not finite.
        """
        if not (interval_s >= 0 and math.isfinite(interval_s)):
            raise ValueError(f"interval_s={interval_s!r}: expected a finite number >= 0")
        self._interval_ns = int(interval_s * 1e9)
        self._open = False  # a leak alert was sent and not resolved yet
        self._sent_rank = 0  # rank of the severity last sent while open
        self._sent_top: tuple[str, int] | None = None  # the top growing line last sent
        self._last_sent_ns: int | None = None

    def observe(self, report: GrowthReport, *, now_ns: int) -> bool | None:
        """Return True to send a leak alert for ``report``, False to resolve it, None for nothing.

        Args:
            report: The latest report.
            now_ns: Monotonic time of the report (its sample's timestamp).
        """
        verdict = report.verdict
        send: bool | None = None
        rank = _RANK[leak_severity(report)]
        top = (report.top_sites[0].file, report.top_sites[0].line) if report.top_sites else None
        if verdict == Verdict.LEAK_SUSPECTED:
            moved = top is not None and top != self._sent_top
            if not self._open or rank > self._sent_rank or moved:
                send = True
        elif self._open and verdict == Verdict.STABLE:
            send = False
        last_ns = self._last_sent_ns
        if send is None or (last_ns is not None and now_ns - last_ns < self._interval_ns):
            return None
        self._last_sent_ns = now_ns
        self._open = send
        self._sent_rank = rank if send else 0
        self._sent_top = top if send else None
        return send
