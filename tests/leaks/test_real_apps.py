"""Leak detection end to end: a real Flask app under ``opentelemetry-instrument --distro otelperf``.

Why this shape: the zero-code path is how most users meet otelperf (DESIGN §1), and it exercises
everything between the settings and the sinks: ``OTELPERF_*`` parsing in the distro, the
``otelperf-memory`` thread in another process, psutil reading that process's real RSS, the OTLP
metric export and the webhook sink. The test drives the app with real HTTP requests at a fixed
rate, and the app answers with the bytes it keeps alive, so the growth otelperf reports is
compared with what the app really allocated. The leak window is the shortest the settings allow
(10 s, 100 samples at 0.1 s): detection comes within about one window.

Run with ``-o log_cli=true --log-cli-level=INFO`` to see the measured figures.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from otelperf._receiver import OTLPReceiver
from tests.leaks.apps.memory_app import CACHE_ENTRY_BYTES, CACHE_SIZE
from tests.leaks.harness import APP, Driver, WebhookServer, app_env, leak_line, run_app, wait_for

pytestmark = pytest.mark.e2e

_log = logging.getLogger(__name__)

MIB = 2**20
INTERVAL_S = 0.1
WINDOW_S = 10.0
THRESHOLD_MB_PER_H = 2000.0  # above the ~1 GiB/h a fresh app creeps by in its first seconds
RATE_PER_S = 32.0  # requests per second: 32 x 64 KiB = 2 MiB/s = 7200 MiB/h when leaking
SETTINGS = {
    "memory_interval_s": str(INTERVAL_S),
    "leak_window_s": str(WINDOW_S),
    "leak_min_growth_mb_per_h": str(THRESHOLD_MB_PER_H),
}
_ETA = re.compile(r"memory limit ([\d.]+ \w+) reached in about ([\d.]+) (s|min|h|d)\b")
_UNIT_S = {"s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    """An HTTP server on 127.0.0.1 collecting the app's alerts."""
    with WebhookServer() as server:
        yield server


def leak_alerts(webhook: WebhookServer, *, after_s: float = 0.0) -> list[dict[str, Any]]:
    """Leak alerts received after the monotonic time ``after_s``."""
    return [r.alert for r in webhook.alerts("leak") if r.at_s >= after_s]


def values(receiver: OTLPReceiver, name: str) -> list[float]:
    """Values of the gauge or sum ``name`` received so far, oldest first."""
    points = sorted(receiver.metrics(name=name), key=lambda p: p.time_unix_ns)
    return [float(p.value) for p in points if p.value is not None]


class TestLeakingApp:
    @pytest.mark.skipif(not hasattr(psutil, "RLIMIT_AS"), reason="needs prlimit (Linux)")
    def test_leak_is_flagged_with_its_real_growth_rate_and_forecast(
        self, otlp_receiver: OTLPReceiver, webhook: WebhookServer
    ) -> None:
        """A global list growing on each request: leak alert, right MB/h, ETA to RLIMIT_AS."""
        env = app_env(
            otlp_endpoint=otlp_receiver.grpc_endpoint, webhook_url=webhook.url, **SETTINGS
        )
        with run_app(env) as app:
            # A real address-space limit, as a container runtime would set; picked up by the
            # monitor's periodic limit refresh (every 60 samples) during the settling below.
            limit_bytes = app.vms_bytes() + 1024 * MIB
            app.set_address_space_limit(limit_bytes)
            # One full window of steady, non-leaking traffic: start-up leaves the window.
            with Driver(app, lambda i: "/stats", rate_per_s=RATE_PER_S) as settle:
                time.sleep(WINDOW_S)
            assert not settle.errors
            flagged = [(a["title"], a["detail"]) for a in leak_alerts(webhook)]
            assert flagged == [], "start-up or steady traffic flagged as a leak"
            assert set(values(otlp_receiver, "otelperf.leak.suspected")) == {0.0}

            with Driver(app, lambda i: "/leak", rate_per_s=RATE_PER_S) as driver:
                assert wait_for(lambda: bool(leak_alerts(webhook)), timeout_s=3 * WINDOW_S)
                received = webhook.alerts("leak")[0]
                vms_then = app.vms_bytes()
                # The metric tells the same story at the OTLP receiver.
                assert otlp_receiver.wait_for(
                    lambda: values(otlp_receiver, "otelperf.leak.suspected")[-1] == 1.0,
                    timeout_s=5,
                )
            assert not driver.errors
        alert = received.alert
        detected_s = received.at_s - driver.started_s
        actual_bytes_per_s = driver.rate_bytes_per_s(driver.started_s, received.at_s)
        reported_bytes_per_s = alert["actual"] / 3600
        assert alert["unit"] == "bytes_per_h"
        assert alert["threshold"] == THRESHOLD_MB_PER_H * MIB
        assert detected_s <= 2 * WINDOW_S
        ratio = reported_bytes_per_s / actual_bytes_per_s
        assert 0.7 <= ratio <= 1.5, (reported_bytes_per_s, actual_bytes_per_s)

        found = _ETA.search(alert["detail"])
        assert found is not None, alert["detail"]
        eta_s = float(found.group(2)) * _UNIT_S[found.group(3)]
        true_eta_s = (limit_bytes - vms_then) / actual_bytes_per_s
        assert eta_s == pytest.approx(true_eta_s, rel=0.3)
        assert alert["severity"] == "critical"  # the limit is minutes away
        _log.info(
            "leak detected %.1f s after it started; reported %.0f MiB/h, app allocated %.0f MiB/h "
            "(x%.2f); ETA %.0f s, truth (limit - VMS) / rate %.0f s (x%.2f); title: %s",
            detected_s,
            reported_bytes_per_s * 3600 / MIB,
            actual_bytes_per_s * 3600 / MIB,
            ratio,
            eta_s,
            true_eta_s,
            eta_s / true_eta_s,
            alert["title"],
        )


class TestCachingApp:
    def test_cache_that_fills_then_plateaus_is_not_flagged(
        self, otlp_receiver: OTLPReceiver, webhook: WebhookServer
    ) -> None:
        """An LRU cache growing fast, then full: growth is seen, no leak is suspected."""
        env = app_env(
            otlp_endpoint=otlp_receiver.grpc_endpoint, webhook_url=webhook.url, **SETTINGS
        )
        with run_app(env) as app:
            # As old as one window, like the leaking app: a younger process's whole history is
            # one rising curve (start-up creep, then the fill), indistinguishable from a leak.
            with Driver(app, lambda i: "/stats", rate_per_s=RATE_PER_S):
                time.sleep(WINDOW_S)
            rss_before = values(otlp_receiver, "process.memory.usage")[-1]
            # Distinct keys: the cache fills in CACHE_SIZE requests (2.5 s), then evicts.
            with Driver(app, lambda i: f"/cache/{i}", rate_per_s=RATE_PER_S) as driver:
                time.sleep(1.5 * WINDOW_S)
            assert not driver.errors
            last_export_ns = time.time_ns()
            assert otlp_receiver.wait_for(
                lambda: any(
                    p.time_unix_ns > last_export_ns
                    for p in otlp_receiver.metrics(name="otelperf.leak.suspected")
                ),
                timeout_s=5,
            )
        assert leak_alerts(webhook) == [], [(a["title"], a["detail"]) for a in leak_alerts(webhook)]
        assert set(values(otlp_receiver, "otelperf.leak.suspected")) == {0.0}
        cache_bytes = CACHE_SIZE * CACHE_ENTRY_BYTES
        assert driver.held[-1][1] == cache_bytes  # the cache really is full, and no bigger
        rss_after = values(otlp_receiver, "process.memory.usage")[-1]
        assert rss_after - rss_before >= 0.8 * cache_bytes  # its memory shows in RSS
        growth = values(otlp_receiver, "otelperf.memory.growth_rate")
        # Not blindness: the trend saw fast growth, and judged it a plateau.
        assert max(growth) >= THRESHOLD_MB_PER_H * MIB
        assert growth[-1] < THRESHOLD_MB_PER_H * MIB
        _log.info(
            "cache of %.1f MiB: RSS +%.1f MiB, peak trend %.0f MiB/h, final %.0f MiB/h, no leak",
            cache_bytes / MIB,
            (rss_after - rss_before) / MIB,
            max(growth) / MIB,
            growth[-1] / MIB,
        )


class TestDeepMode:
    def test_alert_names_the_leaking_line(
        self, otlp_receiver: OTLPReceiver, webhook: WebhookServer
    ) -> None:
        """With leak_deep=true the leak alert's first growing line is the app's append."""
        env = app_env(
            otlp_endpoint=otlp_receiver.grpc_endpoint,
            webhook_url=webhook.url,
            leak_deep="true",
            alert_interval_s="1",
            **SETTINGS,
        )
        culprit = f"growing lines: {APP}:{leak_line()} (+"
        with run_app(env) as app:
            # tracemalloc slows imports several-fold, so start-up outlasts this tiny window's
            # warm-up (0.8 s; 5 min by default) and may raise, then resolve, a leak alert of its
            # own. Wait until start-up has left the window and nothing is suspected.
            with Driver(app, lambda i: "/stats", rate_per_s=RATE_PER_S):
                time.sleep(WINDOW_S)
                assert otlp_receiver.wait_for(
                    lambda: values(otlp_receiver, "otelperf.leak.suspected")[-1:] == [0.0],
                    timeout_s=2 * WINDOW_S,
                )
            with Driver(app, lambda i: "/leak", rate_per_s=RATE_PER_S) as driver:
                assert wait_for(
                    lambda: any(
                        a["severity"] != "resolved" and culprit in a["detail"]
                        for a in leak_alerts(webhook, after_s=driver.started_s)
                    ),
                    timeout_s=4 * WINDOW_S,
                ), [a["detail"] for a in leak_alerts(webhook)]
            assert not driver.errors
        named = next(
            r
            for r in webhook.alerts("leak")
            if r.at_s >= driver.started_s and culprit in r.alert["detail"]
        )
        _log.info(
            "deep mode named the leaking line %.1f s after the leak started: %s",
            named.at_s - driver.started_s,
            named.alert["detail"],
        )
