"""Leak alerts: when LeakAlerter raises, escalates, holds back and resolves; what the alert says."""

from __future__ import annotations

import pytest

from otelperf.alerts.leak_alerts import LeakAlerter, leak_alert, leak_severity, span_leak_alert
from otelperf.leaks import BYTES_PER_MB, AllocationSite, GrowthReport, Verdict

MB = BYTES_PER_MB
H = 3600.0
S = 1_000_000_000  # ns per second


def report(
    verdict: Verdict = Verdict.LEAK_SUSPECTED,
    *,
    eta_s: float | None = None,
    rate_mb_per_h: float = 50.0,
    window_mb_per_h: float = 40.0,
    top: tuple[tuple[str, int], ...] = (),
) -> GrowthReport:
    return GrowthReport(
        verdict=verdict,
        slope_bytes_per_s=window_mb_per_h * MB / H,
        growth_mb_per_h=window_mb_per_h,
        recent_slope_bytes_per_s=rate_mb_per_h * MB / H,
        rate_bytes_per_s=rate_mb_per_h * MB / H if verdict == Verdict.LEAK_SUSPECTED else 0.0,
        confidence=0.95,
        samples=120,
        span_s=3600.0,
        level_bytes=500 * MB,
        eta_s=eta_s,
        limit_bytes=None if eta_s is None else 1024 * MB,
        top_sites=tuple(
            AllocationSite(file=f, line=n, size_diff_bytes=MB, count_diff=1, size_bytes=MB)
            for f, n in top
        ),
    )


class TestLeakSeverity:
    @pytest.mark.parametrize(
        ("eta_s", "severity"),
        [
            (None, "warning"),
            (30 * 24 * H, "warning"),
            (24 * H, "error"),
            (H, "critical"),
            (0, "critical"),
        ],
    )
    def test_severity_follows_the_eta(self, eta_s: float | None, severity: str) -> None:
        """Critical within an hour of the limit, error within a day, else (or no limit) warning."""
        assert leak_severity(report(eta_s=eta_s)) == severity


class TestLeakAlerter:
    def test_raises_on_entering_and_resolves_on_stable_only(self) -> None:
        """leak -> alert; leak again, growing, insufficient_data -> nothing; stable -> resolved."""
        alerter = LeakAlerter(interval_s=0)
        steps = [
            (Verdict.STABLE, None),
            (Verdict.GROWING, None),
            (Verdict.LEAK_SUSPECTED, True),
            (Verdict.LEAK_SUSPECTED, None),
            (Verdict.GROWING, None),
            (Verdict.INSUFFICIENT_DATA, None),
            (Verdict.STABLE, False),
            (Verdict.STABLE, None),
        ]
        got = [alerter.observe(report(v), now_ns=i * S) for i, (v, _) in enumerate(steps)]
        assert got == [want for _, want in steps]

    def test_raises_again_when_severity_rises_not_when_it_falls(self) -> None:
        """warning -> error -> critical each alert; back to error does not."""
        alerter = LeakAlerter(interval_s=0)
        etas = [None, 2 * 24 * H, 10 * H, 0.5 * H, 10 * H, 0.2 * H]
        got = [alerter.observe(report(eta_s=e), now_ns=i * S) for i, e in enumerate(etas)]
        assert got == [True, None, True, True, None, None]

    def test_raises_again_when_deep_mode_names_another_top_line(self) -> None:
        """The first named line, and a change of the top line, are news; the same line is not."""
        alerter = LeakAlerter(interval_s=0)
        tops = [(), (("a.py", 1),), (("a.py", 1), ("b.py", 2)), (("app.py", 9),), ()]
        got = [alerter.observe(report(top=t), now_ns=i * S) for i, t in enumerate(tops)]
        assert got == [True, True, None, True, None]

    def test_changes_within_the_interval_are_held_back_then_sent_if_they_still_stand(
        self,
    ) -> None:
        """At most one alert per interval; a held-back change goes out later, a gone one never."""
        alerter = LeakAlerter(interval_s=60)
        assert alerter.observe(report(), now_ns=0) is True
        assert alerter.observe(report(Verdict.STABLE), now_ns=10 * S) is None  # held back
        assert alerter.observe(report(), now_ns=20 * S) is None  # the change is gone
        assert alerter.observe(report(eta_s=0.1 * H), now_ns=30 * S) is None  # held back
        assert alerter.observe(report(eta_s=0.1 * H), now_ns=60 * S) is True  # still stands
        assert alerter.observe(report(Verdict.STABLE), now_ns=100 * S) is None
        assert alerter.observe(report(Verdict.STABLE), now_ns=120 * S) is False

    @pytest.mark.parametrize("interval_s", [-1.0, float("inf"), float("nan")])
    def test_bad_interval_raises(self, interval_s: float) -> None:
        """The interval must be a finite number >= 0."""
        with pytest.raises(ValueError, match="interval_s"):
            LeakAlerter(interval_s=interval_s)


class TestLeakAlert:
    def test_alert_states_the_current_rate_the_forecast_and_the_culprits(self) -> None:
        """actual is the current rate; the detail has RSS, the limit ETA and file:line."""
        alert = leak_alert(
            report(eta_s=1800, rate_mb_per_h=120.0, top=(("/srv/app.py", 42),)),
            rss_bytes=600 * MB,
            threshold_mb_per_h=10.0,
            window_s=3600.0,
            service="shop",
            resource={"service.name": "shop"},
        )
        assert (alert.kind.value, alert.severity.value, alert.unit.value) == (
            "leak",
            "critical",
            "bytes_per_h",
        )
        assert alert.actual == pytest.approx(120.0 * MB)
        assert alert.threshold == 10.0 * MB
        assert alert.detail is not None
        assert "RSS 600 MiB" in alert.detail
        assert "memory limit 1 GiB reached in about 30 min" in alert.detail
        assert "growing lines: /srv/app.py:42 (+1 MiB)" in alert.detail
        assert alert.title.startswith("process memory rss growth 120 MiB/h > 10 MiB/h leak limit")

    def test_resolved_alert_has_no_forecast(self) -> None:
        """A resolution carries the window trend and no ETA."""
        alert = leak_alert(
            report(Verdict.STABLE, eta_s=None, window_mb_per_h=2.0),
            rss_bytes=600 * MB,
            threshold_mb_per_h=10.0,
            window_s=3600.0,
            service="shop",
            resource={},
            resolved=True,
        )
        assert alert.severity.value == "resolved"
        assert alert.actual == pytest.approx(2.0 * MB)
        assert alert.detail is not None and "reached in" not in alert.detail


class TestSpanLeakAlert:
    def test_lists_names_counts_and_oldest_age(self) -> None:
        """A span_leak warning lists each name with its count and oldest age."""
        alert = span_leak_alert(
            {"job": (3, 400.0), "sync": (1, 320.0)}, after_s=300.0, service="s", resource={}
        )
        assert (alert.kind.value, alert.severity.value) == ("span_leak", "warning")
        assert alert.actual == 400.0
        times = "\u00d7"
        assert alert.detail == (
            f"4 span(s) never ended: job {times}3 (oldest 6.67 min), "
            f"sync {times}1 (oldest 5.33 min)"
        )

    def test_no_names_is_resolved(self) -> None:
        """An empty report resolves the span_leak alert."""
        alert = span_leak_alert({}, after_s=300.0, service="s", resource={})
        assert alert.severity.value == "resolved"
