"""Budgets with their own ``over`` window, judged by the BudgetMonitor on a FakeClock."""

from __future__ import annotations

import os

import pytest

from otelperf._errors import ConfigError
from otelperf.alerts import Alert
from tests.budgets.rig import Rig, all_rigs, rig

rigs_fixture = pytest.fixture(all_rigs, name="rigs")


def steady_traffic(r: Rig, seconds: int, duration_ms: float = 10) -> None:
    """Ten fast requests every 10 s for ``seconds``, one aggregator tick each."""
    for _ in range(seconds // 10):
        r.clock.advance(seconds=10)
        r.spans("GET /a", duration_ms, count=10)


def by_budget(alerts: list[Alert]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for alert in alerts:
        found.setdefault(alert.budget or "", []).append(alert.severity.value)
    return found


class TestLongerWindows:
    def test_a_5m_budget_remembers_a_slow_burst_for_five_minutes(self, rigs: list[Rig]) -> None:
        """A burst breaks both budgets; the live one resolves after ~1 min, the 5m one ~5 min."""
        r = rig(rigs, "GET /a max<100ms; GET /a max<100ms over 5m")
        r.spans("GET /a", 300)
        r.clock.advance(seconds=10)
        r.spans("GET /a", 10, count=10)  # the burst's sub-window closes: the 5m window has it
        assert by_budget(r.delivered()) == {
            "GET /a max<100ms": ["critical"],
            "GET /a max<100ms over 5m": ["critical"],
        }
        steady_traffic(r, 60)
        assert by_budget(r.delivered())["GET /a max<100ms"] == ["critical", "resolved"]
        steady_traffic(r, 200)  # 4m30s after the burst: still in the 5m window
        assert by_budget(r.delivered())["GET /a max<100ms over 5m"] == ["critical"]
        steady_traffic(r, 60)
        over_5m = [a for a in r.delivered() if a.budget == "GET /a max<100ms over 5m"]
        assert [a.severity.value for a in over_5m] == ["critical", "resolved"]
        assert [a.window_s for a in over_5m] == [300.0, 300.0]
        assert over_5m[1].actual == pytest.approx(10, rel=0.01)

    def test_a_30s_budget_forgets_sooner_than_the_live_window(self, rigs: list[Rig]) -> None:
        """Windows shorter than window_s work too (whole sub-windows, here 3 of 10 s)."""
        r = rig(rigs, "GET /a max<100ms over 30s")
        r.spans("GET /a", 300)
        steady_traffic(r, 10)
        assert [a.severity.value for a in r.delivered()] == ["critical"]
        steady_traffic(r, 30)
        assert [a.severity.value for a in r.delivered()] == ["critical", "resolved"]

    def test_the_window_judges_its_own_p95(self, rigs: list[Rig]) -> None:
        """Over 5 minutes, 10 % slow requests put the p95 over the budget; the live p95 is not."""
        r = rig(rigs, "GET /a p95<100ms over 5m", alerts=False)
        r.spans("GET /a", 300, count=30)
        steady_traffic(r, 100, duration_ms=10)  # 30 slow of 130 in 5 m; 60 fast in the last 1 m
        [status] = r.monitor.report()
        assert (status.state, status.window_s) == ("critical", 300.0)
        assert status.actual_ms == pytest.approx(300, rel=0.02)
        assert r.aggregator.stats("GET /a").p95_ms == pytest.approx(10, rel=0.02)  # type: ignore[union-attr]

    def test_only_selected_operations_are_kept(self, rigs: list[Rig]) -> None:
        """Operations no ``over`` budget selects cost no window memory."""
        r = rig(rigs, "GET /a p95<100ms over 5m", alerts=False)
        r.spans("GET /a", 10)
        r.spans("GET /b", 10)
        r.tick(seconds=10)
        [blocks] = r.monitor._windows.values()
        assert (blocks.window_s, len(blocks)) == (300.0, 1)

    def test_an_unjudgeable_window_fails_when_the_monitor_is_built(self) -> None:
        """The evaluator's ConfigError surfaces at construction, before any thread runs."""
        with pytest.raises(ConfigError, match="at most 6h"):
            Rig("GET /a p95<100ms over 7h")

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_a_forked_child_starts_with_empty_windows(self, rigs: list[Rig]) -> None:
        """The parent's 5m data is the parent's: the child's windows start empty."""
        r = rig(rigs, "GET /a max<100ms over 5m", alerts=False)
        r.spans("GET /a", 300)
        r.tick(seconds=10)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                sizes = [len(blocks) for blocks in r.monitor._windows.values()]
                os.write(write, b"ok" if sizes == [0] else repr(sizes).encode())
            finally:
                os._exit(0)
        os.close(write)
        answer = os.read(read, 200)
        os.close(read)
        os.waitpid(pid, 0)
        assert answer == b"ok"
        assert [s.state for s in r.monitor.report()] == ["critical"]
