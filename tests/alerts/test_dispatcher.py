from __future__ import annotations

import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterator

import pytest

from otelperf.alerts import Alert, AlertDispatcher, CallbackSink
from tests.alerts.helpers import GateSink, RecordingSink, make_alert

NO_DROPS = {"queue_full": 0, "sink_queue_full": 0, "sink_error": 0, "shutdown": 0}


@pytest.fixture
def gate() -> Iterator[GateSink]:
    """A sink that hangs until the test ends."""
    sink = GateSink()
    yield sink
    sink.gate.set()


def _thread_names() -> set[str]:
    return {t.name for t in threading.enumerate()}


class TestAlertDispatcherDelivery:
    def test_delivers_every_alert_to_every_sink_in_order(self) -> None:
        """All sinks get all alerts, in submission order, on their own named threads."""
        sinks = [RecordingSink("a"), RecordingSink("b"), RecordingSink("c")]
        dispatcher = AlertDispatcher(sinks)
        alerts = [make_alert(actual=float(i)) for i in range(5)]
        assert all(dispatcher.submit(alert) for alert in alerts)
        assert dispatcher.flush(timeout_s=5)
        for sink in sinks:
            assert sink.alerts == alerts
            assert set(sink.threads) == {f"otelperf-alerts-{sink.name}"}
        assert dispatcher.dropped == NO_DROPS
        dispatcher.shutdown()

    def test_threads_are_named_daemons(self) -> None:
        """The fan-out thread is otelperf-alerts; each sink has otelperf-alerts-<name>."""
        before = set(threading.enumerate())
        dispatcher = AlertDispatcher([RecordingSink("mine")])
        started = set(threading.enumerate()) - before
        assert sorted(t.name for t in started) == ["otelperf-alerts", "otelperf-alerts-mine"]
        assert all(t.daemon for t in started)
        dispatcher.shutdown()
        assert not any(t.is_alive() for t in started)

    def test_failing_sink_does_not_stop_the_others(self, caplog: pytest.LogCaptureFixture) -> None:
        """A sink that raises is counted and logged once; the other sinks get every alert."""
        broken, healthy = RecordingSink("broken"), RecordingSink("healthy")
        broken.fail = True
        dispatcher = AlertDispatcher([broken, healthy])
        with caplog.at_level(logging.INFO, logger="otelperf.alerts"):
            for i in range(3):
                dispatcher.submit(make_alert(actual=float(i)))
            assert dispatcher.flush(timeout_s=5)
        assert len(healthy.alerts) == 3
        assert dispatcher.dropped["sink_error"] == 3
        failures = [r for r in caplog.records if "failed" in r.getMessage()]
        assert len(failures) == 1
        assert "'broken'" in failures[0].getMessage()
        assert failures[0].exc_info is not None and "sink is down" in str(failures[0].exc_info[1])
        dispatcher.shutdown()

    def test_failure_is_logged_again_after_recovery(self, caplog: pytest.LogCaptureFixture) -> None:
        """Logging is once per failure streak: fail, recover (logged), fail again (logged)."""
        sink = RecordingSink("flaky")
        dispatcher = AlertDispatcher([sink])
        with caplog.at_level(logging.INFO, logger="otelperf.alerts"):
            for fail in (True, True, False, True):
                sink.fail = fail
                dispatcher.submit(make_alert())
                assert dispatcher.flush(timeout_s=5)
        messages = [r.getMessage() for r in caplog.records]
        assert sum("'flaky' failed" in m for m in messages) == 2
        assert sum("'flaky' works again" in m for m in messages) == 1
        assert dispatcher.dropped["sink_error"] == 3
        dispatcher.shutdown()

    def test_hanging_sink_does_not_delay_the_others(self, gate: GateSink) -> None:
        """While one sink blocks for 10 s, a healthy sink still gets the alert within 1 s."""
        healthy = RecordingSink("healthy")
        dispatcher = AlertDispatcher([gate, healthy])
        dispatcher.submit(make_alert())
        assert gate.entered.wait(5)
        started = time.monotonic()
        dispatcher.submit(make_alert(actual=1.0))
        assert healthy.received.wait(1.0)
        while len(healthy.alerts) < 2 and time.monotonic() - started < 1.0:
            time.sleep(0.005)
        assert [a.actual for a in healthy.alerts] == [312.0, 1.0]
        assert time.monotonic() - started < 1.0
        dispatcher.shutdown(timeout_s=0.1)

    def test_submit_never_blocks_on_a_hanging_sink(self, gate: GateSink) -> None:
        """Hundreds of submits return at once even though a sink hangs and its queue overflows."""
        dispatcher = AlertDispatcher([gate], max_sink_queue_size=10)
        started = time.monotonic()
        results = [dispatcher.submit(make_alert()) for _ in range(500)]
        assert time.monotonic() - started < 0.5
        assert all(results)
        dispatcher.shutdown(timeout_s=0.1)

    def test_hanging_sink_overflow_is_counted_for_that_sink_only(self, gate: GateSink) -> None:
        """A hung sink's full queue drops its alerts (sink_queue_full); others get all of them."""
        healthy = RecordingSink("healthy")
        dispatcher = AlertDispatcher([gate, healthy], max_sink_queue_size=2)
        dispatcher.submit(make_alert())
        assert gate.entered.wait(5)
        for expected in range(2, 7):
            # Paced so that only the hung sink's queue can fill up.
            dispatcher.submit(make_alert())
            deadline = time.monotonic() + 5
            while len(healthy.alerts) < expected and time.monotonic() < deadline:
                time.sleep(0.001)
        assert not dispatcher.flush(timeout_s=0.3)
        assert len(healthy.alerts) == 6
        assert dispatcher.dropped["sink_queue_full"] == 3
        dispatcher.shutdown(timeout_s=0.1)

    def test_full_queue_drops_and_counts(self, caplog: pytest.LogCaptureFixture) -> None:
        """When submits outpace the fan-out thread, extras are dropped, counted and logged once."""
        sink = RecordingSink()
        dispatcher = AlertDispatcher([sink], max_queue_size=1, max_sink_queue_size=10_000)
        # Keep the GIL on this thread so the fan-out thread cannot drain between submits.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1.0)
        try:
            with caplog.at_level(logging.WARNING, logger="otelperf.alerts"):
                accepted = sum(dispatcher.submit(make_alert()) for _ in range(2_000))
        finally:
            sys.setswitchinterval(interval)
        assert dispatcher.flush(timeout_s=5)
        dropped = dispatcher.dropped["queue_full"]
        assert dropped > 0
        assert accepted + dropped == 2_000
        assert len(sink.alerts) == accepted
        assert sum("queue is full" in r.getMessage() for r in caplog.records) == 1
        dispatcher.shutdown()

    def test_concurrent_submits_add_up(self) -> None:
        """8 threads x 250 submits: every accepted alert is delivered exactly once."""
        sink = RecordingSink()
        dispatcher = AlertDispatcher([sink], max_queue_size=5_000, max_sink_queue_size=5_000)
        counts: list[int] = []

        def produce() -> None:
            counts.append(sum(dispatcher.submit(make_alert()) for _ in range(250)))

        threads = [threading.Thread(target=produce) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert dispatcher.flush(timeout_s=10)
        assert sum(counts) == 2_000
        assert len(sink.alerts) == 2_000
        dispatcher.shutdown()

    def test_rejects_bad_arguments(self) -> None:
        """A sink without send() is a TypeError; a queue size below 1 is a ValueError."""
        with pytest.raises(TypeError, match="has no send"):
            AlertDispatcher([object()])  # type: ignore[list-item]
        with pytest.raises(ValueError, match="max_queue_size must be an int >= 1, got 0"):
            AlertDispatcher([], max_queue_size=0)
        with pytest.raises(ValueError, match=r"max_sink_queue_size must be an int >= 1, got 1\.5"):
            AlertDispatcher([], max_sink_queue_size=1.5)  # type: ignore[arg-type]


class TestAlertDispatcherShutdown:
    def test_shutdown_delivers_queued_alerts_then_closes_sinks(self) -> None:
        """Queued alerts are delivered, then close() runs on the sink's own thread."""
        before = set(threading.enumerate())
        sink = RecordingSink("closing")
        dispatcher = AlertDispatcher([sink])
        for _ in range(3):
            dispatcher.submit(make_alert())
        dispatcher.shutdown(timeout_s=5)
        assert len(sink.alerts) == 3
        assert sink.closed_on == "otelperf-alerts-closing"
        assert set(threading.enumerate()) <= before

    def test_shutdown_is_idempotent_and_bounded_by_a_hanging_sink(
        self, gate: GateSink, caplog: pytest.LogCaptureFixture
    ) -> None:
        """With a sink hung for 10 s, shutdown returns near its timeout; a 2nd call is instant."""
        dispatcher = AlertDispatcher([gate])
        dispatcher.submit(make_alert())
        assert gate.entered.wait(5)
        dispatcher.submit(make_alert())
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="otelperf.alerts"):
            dispatcher.shutdown(timeout_s=0.3)
        assert 0.25 < time.monotonic() - started < 1.0
        assert "did not finish" in caplog.text
        assert dispatcher.dropped["shutdown"] == 1
        started = time.monotonic()
        dispatcher.shutdown(timeout_s=5)
        assert time.monotonic() - started < 0.05

    def test_submit_after_shutdown_is_refused_and_counted(self) -> None:
        """After shutdown, submit returns False and counts a shutdown drop."""
        sink = RecordingSink()
        dispatcher = AlertDispatcher([sink])
        dispatcher.shutdown()
        assert not dispatcher.submit(make_alert())
        assert dispatcher.dropped["shutdown"] == 1
        assert dispatcher.flush(timeout_s=0.1)
        assert sink.alerts == []

    def test_failing_close_is_contained(self, caplog: pytest.LogCaptureFixture) -> None:
        """A sink whose close() raises is logged; shutdown still completes."""

        class BadClose(RecordingSink):
            def close(self) -> None:
                raise OSError("socket already gone")

        dispatcher = AlertDispatcher([BadClose("badclose"), RecordingSink("ok")])
        with caplog.at_level(logging.WARNING, logger="otelperf.alerts"):
            dispatcher.shutdown(timeout_s=5)
        assert "'badclose' failed to close" in caplog.text

    def test_shutdown_from_inside_a_sink_does_not_deadlock(self) -> None:
        """A callback that shuts the dispatcher down returns instead of waiting for itself."""
        holder: list[AlertDispatcher] = []
        done = threading.Event()

        def stop(alert: Alert) -> None:
            holder[0].shutdown(timeout_s=0.2)
            done.set()

        dispatcher = AlertDispatcher([CallbackSink(stop, name="stopper")])
        holder.append(dispatcher)
        dispatcher.submit(make_alert())
        assert done.wait(5)
        assert not dispatcher.submit(make_alert())


class TestAlertDispatcherFork:
    def test_reinit_starts_over_with_new_threads_and_empty_queues(self, gate: GateSink) -> None:
        """_reinit() (the at-fork hook) drops inherited alerts and counters, starts new threads."""
        broken = RecordingSink("broken")
        broken.fail = True
        dispatcher = AlertDispatcher([gate, broken])
        inherited = make_alert(actual=1.0)
        dispatcher.submit(make_alert(actual=0.0))
        assert gate.entered.wait(5)
        dispatcher.submit(inherited)
        dispatcher.flush(timeout_s=0.2)
        assert dispatcher.dropped["sink_error"] == 2
        old_ident = gate.calls[0][0]
        old_lanes = [dispatcher._central, *(r.lane for r in dispatcher._runners)]

        dispatcher._reinit()

        assert dispatcher.dropped == NO_DROPS
        fresh = make_alert(actual=2.0)
        assert dispatcher.submit(fresh)
        gate.gate.set()
        assert dispatcher.flush(timeout_s=5)
        new_calls = [alert for ident, alert in gate.calls if ident != old_ident]
        assert new_calls == [fresh]
        dispatcher.shutdown()
        # The "parent's" threads would not exist in a real child; stop them for a clean test.
        for lane in old_lanes:
            lane.stop()
            assert lane.join(time.monotonic_ns() + 5_000_000_000)

    def test_reinit_after_shutdown_stays_shut_down(self) -> None:
        """A child of a shut-down dispatcher starts no threads and refuses alerts."""
        dispatcher = AlertDispatcher([RecordingSink("forkclosed")])
        dispatcher.shutdown()
        dispatcher._reinit()
        assert "otelperf-alerts-forkclosed" not in _thread_names()
        assert not dispatcher.submit(make_alert())

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_forked_child_can_submit_and_deliver(self) -> None:
        """After a real fork the child delivers its own alerts and the parent keeps working."""
        sink = RecordingSink("forked")
        dispatcher = AlertDispatcher([sink])
        dispatcher.submit(make_alert(actual=1.0))
        assert dispatcher.flush(timeout_s=5)
        with warnings.catch_warnings():
            # Python >= 3.12 warns about forking a process with threads; that is the point here.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, reports through the exit code
            code = 1
            try:
                sink.alerts.clear()
                child_alert = make_alert(actual=2.0)
                ok = dispatcher.submit(child_alert) and dispatcher.flush(timeout_s=5)
                threads_ok = {"otelperf-alerts", "otelperf-alerts-forked"} <= _thread_names()
                code = 0 if ok and threads_ok and sink.alerts == [child_alert] else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert dispatcher.submit(make_alert(actual=3.0))
        assert dispatcher.flush(timeout_s=5)
        assert [a.actual for a in sink.alerts] == [1.0, 3.0]
        dispatcher.shutdown()
