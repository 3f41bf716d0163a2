"""``FakeClock``: a settable nanosecond clock for code that takes ``clock: Callable[[], int]``."""

from __future__ import annotations

__all__ = ["FakeClock"]


class FakeClock:
    """A clock for tests: returns a settable time in integer nanoseconds.

    Pass it wherever otelperf takes ``clock: Callable[[], int]`` and move time with
    :meth:`advance`. Not thread-safe by design: tests drive it from one thread.
    """

    def __init__(self, *, start_ns: int = 1_000_000_000_000) -> None:
        """Start at ``start_ns`` (non-zero by default so "0 = unset" bugs show)."""
        self.now_ns = start_ns

    def __call__(self) -> int:
        """Return the current fake time in nanoseconds."""
        return self.now_ns

    def advance(self, *, seconds: float = 0.0, ms: float = 0.0, ns: int = 0) -> int:
        """Move time forward and return the new time in nanoseconds.

        Raises:
            ValueError: The total step is negative (time never goes back).
        """
        step_ns = round(seconds * 1e9) + round(ms * 1e6) + ns
        if step_ns < 0:
            raise ValueError(f"FakeClock.advance: step must be >= 0, got {step_ns} ns")
        self.now_ns += step_ns
        return self.now_ns
