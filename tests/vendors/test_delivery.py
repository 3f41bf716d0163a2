"""The shared pieces of the vendor exporters: the retry loop, drop counts, cumulative->delta."""

from __future__ import annotations

import threading
import time

import pytest
from urllib3.exceptions import MaxRetryError, NewConnectionError, ReadTimeoutError, SSLError

from otelperf.aggregates import ExpSketch
from otelperf.exporters._delivery import (
    Attempt,
    Drops,
    deliver,
    network_attempt,
    retry_after_s,
    retryable_status,
)
from otelperf.exporters._histograms import DeltaState


class Script:
    """An attempt function that plays back outcomes and records the time left it was given."""

    def __init__(self, *outcomes: Attempt) -> None:
        self.outcomes = list(outcomes)
        self.left: list[float] = []

    def __call__(self, left_s: float) -> Attempt:
        self.left.append(left_s)
        return self.outcomes.pop(0) if self.outcomes else Attempt(True)


RETRY = Attempt(False, "HTTP 503", True)


class TestDeliver:
    def test_retries_until_success(self) -> None:
        """Retryable failures are retried; the successful attempt ends the loop."""
        script = Script(RETRY, RETRY, Attempt(True))
        outcome, made = deliver(
            script, timeout_s=5, retries=3, backoff_s=0.001, stop=threading.Event()
        )
        assert outcome.ok and made == 3
        assert script.left[0] > script.left[1] > script.left[2]

    def test_gives_up_after_the_retries(self) -> None:
        """At most 1 + retries attempts."""
        outcome, made = deliver(
            Script(*[RETRY] * 9), timeout_s=5, retries=2, backoff_s=0.001, stop=threading.Event()
        )
        assert not outcome.ok and made == 3 and outcome.problem == "HTTP 503"

    def test_final_failure_is_not_retried(self) -> None:
        """A 400 (not retryable) ends the delivery after one attempt."""
        outcome, made = deliver(
            Script(Attempt(False, "HTTP 400")), timeout_s=5, retries=3, backoff_s=0,
            stop=threading.Event(),
        )  # fmt: skip
        assert (outcome.problem, made) == ("HTTP 400", 1)

    def test_retry_after_beyond_the_deadline_stops_at_once(self) -> None:
        """A wait that would pass the deadline is not taken."""
        start = time.monotonic()
        outcome, made = deliver(
            Script(Attempt(False, "HTTP 429", True, 30.0)), timeout_s=2, retries=3,
            backoff_s=0.001, stop=threading.Event(),
        )  # fmt: skip
        assert made == 1 and time.monotonic() - start < 0.5
        assert "would miss the deadline" in outcome.problem

    def test_stop_cuts_the_wait_short(self) -> None:
        """shutdown() during a backoff ends the delivery without waiting it out."""
        stop = threading.Event()
        threading.Timer(0.1, stop.set).start()
        start = time.monotonic()
        outcome, made = deliver(
            Script(RETRY, RETRY), timeout_s=10, retries=3, backoff_s=2.0, stop=stop
        )
        assert made == 1 and time.monotonic() - start < 1.0
        assert "shut down" in outcome.problem

    def test_no_attempt_when_the_deadline_has_passed(self) -> None:
        """A zero budget makes no request at all."""
        outcome, made = deliver(
            Script(), timeout_s=0, retries=3, backoff_s=0, stop=threading.Event()
        )
        assert made == 0 and not outcome.ok


class TestClassification:
    @pytest.mark.parametrize(
        ("status", "retryable"),
        [(200, False), (400, False), (403, False), (408, True), (429, True), (500, True),
         (503, True)],
    )  # fmt: skip
    def test_retryable_statuses(self, status: int, retryable: bool) -> None:
        """408, 429 and 5xx are worth another attempt."""
        assert retryable_status(status) is retryable

    @pytest.mark.parametrize(
        ("headers", "names", "expected"),
        [
            ({"Retry-After": "3"}, (), 3.0),
            ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, (), 0.0),
            ({"X-Ratelimit-Reset": "9"}, ("x-ratelimit-reset", "retry-after"), 9.0),
            ({"Retry-After": "soon"}, (), None),
            ({}, (), None),
            (None, (), None),
        ],
    )
    def test_retry_after(
        self, headers: dict[str, str] | None, names: tuple[str, ...], expected: float | None
    ) -> None:
        """Delta seconds and past HTTP dates are read; junk is ignored."""
        assert retry_after_s(headers, *names) == expected

    def test_network_errors(self) -> None:
        """Refused -> connection_error, read timeout -> timeout, both retryable."""
        refused = MaxRetryError(None, "/", NewConnectionError(None, "refused"))  # type: ignore[arg-type]
        assert network_attempt(refused) == Attempt(
            False, "connection_error (NewConnectionError)", True
        )
        timeout = ReadTimeoutError(None, "/", "read timed out")  # type: ignore[arg-type]
        assert network_attempt(timeout).problem == "timeout (ReadTimeoutError)"
        assert network_attempt(SSLError("bad handshake")).retryable


class TestDrops:
    def test_counts_by_reason_across_threads(self) -> None:
        """8 threads x 1000 adds: the total adds up."""
        drops = Drops()

        def add_many() -> None:
            for _ in range(1000):
                drops.add("http_500")

        workers = [threading.Thread(target=add_many) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        drops.add("timeout", 5)
        assert drops.counts() == {"http_500": 8000, "timeout": 5}
        assert drops.total == 8005
        drops.reinit()
        assert drops.total == 0


class TestDeltaState:
    KEY = ("m", (), ())

    def test_sums_become_deltas_and_resets_restart(self) -> None:
        """Increases are deltas; a lower value or a new start time counts in full."""
        state = DeltaState()
        assert state.sum_delta(self.KEY, 0, 10, 5.0) == (5.0, 0)
        assert state.sum_delta(self.KEY, 0, 20, 8.0) == (3.0, 10)
        assert state.sum_delta(self.KEY, 0, 30, 2.0) == (2.0, 0)
        assert state.sum_delta(self.KEY, 25, 40, 1.0) == (1.0, 25)

    def test_histograms_become_deltas(self) -> None:
        """The second export holds only what was added after the first."""
        sketch = ExpSketch()
        sketch.add_many([0.1, 0.2])
        state = DeltaState()
        first, _ = state.histogram_delta(self.KEY, 0, 10, sketch.buckets())
        sketch.add_many([5.0, 6.0, 7.0])
        second, start = state.histogram_delta(self.KEY, 0, 20, sketch.buckets())
        assert (first.count, second.count, start) == (2, 3, 10)
        assert second.quantile(0.5) == pytest.approx(6.0, rel=0.01)

    def test_bounded_and_counts_evictions(self) -> None:
        """Beyond max_series the oldest series is forgotten and counted."""
        state = DeltaState(max_series=2)
        for name in ("a", "b", "c"):
            state.sum_delta((name, (), ()), 0, 1, 1.0)
        assert state.evicted == 1
        with pytest.raises(ValueError, match="max_series"):
            DeltaState(max_series=0)
