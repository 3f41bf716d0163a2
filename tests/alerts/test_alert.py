# ruff: noqa: RUF001 - the titles contain the multiplication sign on purpose
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest

from otelperf.alerts import Alert, AlertKind, AlertSeverity, AlertUnit
from tests.alerts.helpers import make_alert


class TestAlertTitle:
    @pytest.mark.parametrize(
        ("overrides", "title"),
        [
            ({}, "GET /users p99 312 ms > 250 ms budget (1.25×, warning) over 60 s"),
            (
                {"severity": AlertSeverity.RESOLVED, "actual": 200.0},
                "GET /users p99 200 ms ≤ 250 ms budget (0.80×, resolved) over 60 s",
            ),
            (
                {
                    "statistic": "error_rate",
                    "actual": 0.0123,
                    "threshold": 0.01,
                    "unit": AlertUnit.FRACTION,
                    "severity": AlertSeverity.ERROR,
                    "window_s": 300.0,
                },
                "GET /users error_rate 1.23 % > 1 % budget (1.23×, error) over 5 min",
            ),
            (
                {
                    "kind": AlertKind.SLO,
                    "statistic": "burn rate",
                    "actual": 28.8,
                    "threshold": 14.4,
                    "unit": AlertUnit.RATIO,
                    "window_s": 3600.0,
                    "severity": AlertSeverity.CRITICAL,
                },
                "GET /users burn rate 28.8× > 14.4× SLO limit (2.00×, critical) over 1 h",
            ),
            (
                {
                    "kind": AlertKind.LEAK,
                    "operation": None,
                    "statistic": "rss growth",
                    "actual": 40 * 2**20,
                    "threshold": 10 * 2**20,
                    "unit": AlertUnit.BYTES_PER_H,
                    "window_s": 30 * 86400.0,
                },
                "process memory rss growth 40 MiB/h > 10 MiB/h leak limit (4.00×, warning)"
                " over 30 d",
            ),
            (
                {
                    "kind": AlertKind.SPAN_LEAK,
                    "operation": "checkout",
                    "statistic": "open spans",
                    "actual": 12,
                    "threshold": 0,
                    "unit": AlertUnit.COUNT,
                    "window_s": 150.0,
                },
                "checkout open spans 12 > 0 limit (warning) over 2.5 min",
            ),
            (
                {
                    "kind": AlertKind.REGRESSION,
                    "statistic": "p95",
                    "actual": 1234.4,
                    "threshold": 999.0,
                    "window_s": 90.0,
                },
                "GET /users p95 1234 ms > 999 ms regression limit (1.24×, warning) over 90 s",
            ),
            (
                {
                    "statistic": None,
                    "operation": None,
                    "actual": 3.5 * 2**30,
                    "threshold": 512.0,
                    "unit": AlertUnit.BYTES,
                    "window_s": 5400.0,
                },
                "all operations 3.5 GiB > 512 B budget (7340032.00×, warning) over 90 min",
            ),
            (
                {
                    "statistic": "age",
                    "actual": 0.5,
                    "threshold": 0.25,
                    "unit": AlertUnit.S,
                    "window_s": 7 * 3600.0 + 1800,
                },
                "GET /users age 0.5 s > 0.25 s budget (2.00×, warning) over 7.5 h",
            ),
        ],
    )
    def test_title_states_value_limit_ratio_severity_and_window(
        self, overrides: dict[str, Any], title: str
    ) -> None:
        """The title reads like a sentence an on-call engineer can act on."""
        assert make_alert(**overrides).title == title

    def test_message_adds_service_budget_trace_and_detail(self) -> None:
        """The message is the title plus one line per known fact."""
        alert = make_alert(trace_id="ab" * 16, detail="limit reached in ~3 h")
        assert alert.message.splitlines() == [
            alert.title,
            "service: shop",
            "budget: GET /users p99<250ms",
            f"example trace: {'ab' * 16}",
            "limit reached in ~3 h",
        ]

    def test_message_omits_unknown_facts(self) -> None:
        """Without budget, trace or detail the message is title and service only."""
        alert = make_alert(budget=None)
        assert alert.message == f"{alert.title}\nservice: shop"

    def test_ratio_is_none_without_a_positive_threshold(self) -> None:
        """A zero or infinite threshold has no meaningful ratio."""
        assert make_alert(threshold=0.0).ratio is None
        assert make_alert(threshold=math.inf).ratio is None
        assert make_alert(actual=math.nan).ratio is None
        assert make_alert().ratio == pytest.approx(1.248)


class TestAlertFingerprint:
    def test_same_problem_same_fingerprint(self) -> None:
        """Severity, values, window, trace, resource and time do not change the fingerprint."""
        base = make_alert()
        other = make_alert(
            severity=AlertSeverity.RESOLVED,
            actual=10.0,
            threshold=300.0,
            window_s=5.0,
            trace_id="cd" * 16,
            resource={"host.name": "b"},
            timestamp_ns=1,
            statistic="p50",
        )
        assert base.fingerprint == other.fingerprint
        assert len(base.fingerprint) == 32
        int(base.fingerprint, 16)

    @pytest.mark.parametrize(
        "change",
        [
            {"kind": AlertKind.REGRESSION},
            {"service": "billing"},
            {"operation": "GET /orders"},
            {"operation": None},
            {"budget": "GET /users p95<100ms"},
        ],
    )
    def test_different_problem_different_fingerprint(self, change: dict[str, Any]) -> None:
        """Kind, service, operation and budget each distinguish problems."""
        assert make_alert(**change).fingerprint != make_alert().fingerprint

    def test_fingerprint_is_stable_across_runs(self) -> None:
        """The fingerprint is a fixed function of its inputs (vendors group on it for months)."""
        assert make_alert().fingerprint == "00011df832ad881f782def4eab0f3af6"


class TestAlertToDict:
    def test_round_trips_through_strict_json(self) -> None:
        """to_dict() survives json.dumps(allow_nan=False) and keeps the fields."""
        alert = make_alert(trace_id="AB" * 16, resource={"host.name": "web-1", "k8s.pod.uid": "x"})
        data = json.loads(json.dumps(alert.to_dict(), allow_nan=False))
        assert data == {
            "schema": "otelperf.alert.v1",
            "kind": "budget",
            "severity": "warning",
            "service": "shop",
            "operation": "GET /users",
            "statistic": "p99",
            "budget": "GET /users p99<250ms",
            "actual": 312.0,
            "threshold": 250.0,
            "unit": "ms",
            "ratio": 1.248,
            "window_s": 60.0,
            "trace_id": "ab" * 16,
            "detail": None,
            "resource": {"host.name": "web-1", "k8s.pod.uid": "x"},
            "timestamp_ns": 1_700_000_000_000_000_000,
            "time": "2023-11-14T22:13:20.000Z",
            "title": alert.title,
            "message": alert.message,
            "fingerprint": alert.fingerprint,
        }

    def test_non_finite_and_odd_values_become_json_safe(self) -> None:
        """NaN/inf become null; sequences become lists; other objects become strings."""
        alert = make_alert(
            actual=math.inf,
            resource={"a": math.nan, "b": ("x", 1.5, math.inf), "c": b"raw", "d": None, "e": True},
        )
        data = alert.to_dict()
        json.dumps(data, allow_nan=False)
        assert data["actual"] is None
        assert data["ratio"] is None
        assert data["resource"] == {
            "a": None,
            "b": ["x", 1.5, None],
            "c": "b'raw'",
            "d": None,
            "e": True,
        }


class TestAlertValidation:
    def test_strings_are_accepted_for_enum_fields(self) -> None:
        """kind, severity and unit given as their string values become the enum members."""
        alert = Alert(
            kind="slo",  # type: ignore[arg-type]
            severity="critical",  # type: ignore[arg-type]
            unit="fraction",  # type: ignore[arg-type]
            service="shop",
            actual=1,
            threshold=2,
            window_s=60,
        )
        assert (alert.kind, alert.severity, alert.unit) == (
            AlertKind.SLO,
            AlertSeverity.CRITICAL,
            AlertUnit.FRACTION,
        )
        assert (str(alert.kind), str(alert.severity), str(alert.unit)) == (
            "slo",
            "critical",
            "fraction",
        )
        assert isinstance(alert.actual, float)

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            (
                {"kind": "page"},
                "Alert.kind must be one of budget, slo, regression, leak, span_leak, got 'page'",
            ),
            (
                {"severity": "info"},
                "Alert.severity must be one of warning, error, critical, resolved",
            ),
            (
                {"unit": "kb"},
                "Alert.unit must be one of ms, s, fraction, ratio, bytes, bytes_per_h, count",
            ),
            ({"service": ""}, "Alert.service must be a non-empty string, got ''"),
            ({"actual": "312"}, "Alert.actual must be a number, got '312'"),
            ({"threshold": True}, "Alert.threshold must be a number, got True"),
            ({"window_s": -1.0}, "Alert.window_s must be a finite number >= 0, got -1.0"),
            ({"window_s": math.inf}, "Alert.window_s must be a finite number >= 0, got inf"),
            ({"timestamp_ns": 1.5}, "Alert.timestamp_ns must be an int, got 1.5"),
            ({"trace_id": "abc"}, "Alert.trace_id must be 32 hex digits, got 'abc'"),
            ({"trace_id": "0" * 32}, "Alert.trace_id must be 32 hex digits"),
            ({"trace_id": "g" * 32}, "Alert.trace_id must be 32 hex digits"),
        ],
    )
    def test_rejects_impossible_values(self, change: dict[str, Any], message: str) -> None:
        """Each bad field raises ValueError naming the field and the value."""
        with pytest.raises(ValueError, match="^" + _escape(message)):
            make_alert(**change)

    def test_is_immutable_and_keeps_its_own_resource_copy(self) -> None:
        """Fields cannot be set, resource cannot be changed, later caller edits do not leak in."""
        resource = {"host.name": "web-1"}
        alert = make_alert(resource=resource)
        resource["host.name"] = "changed"
        assert alert.resource["host.name"] == "web-1"
        with pytest.raises(dataclasses.FrozenInstanceError):
            alert.actual = 1.0  # type: ignore[misc]
        with pytest.raises(TypeError):
            alert.resource["host.name"] = "x"  # type: ignore[index]

    def test_is_hashable_and_compares_by_value(self) -> None:
        """Equal alerts are equal and hash alike (they can go in sets)."""
        assert make_alert(resource={"a": 1}) == make_alert(resource={"a": 1})
        assert len({make_alert(), make_alert()}) == 1


def _escape(text: str) -> str:
    import re

    return re.escape(text)
