"""Per-(budget, operation) alert state: hysteresis, announcement and rate limiting."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from otelperf.budgets.events import STATES, State

__all__ = ["HYSTERESIS", "NO_DATA", "Track", "Tracks", "climb"]

K = TypeVar("K", bound=Hashable)

HYSTERESIS = 0.9
"""Leaving a severity needs the value at or below 0.9 x that severity's bound (DESIGN §5)."""

NO_DATA: State = "insufficient_data"
_LEVELS = STATES[:4]  # ok, warning, error, critical: a level is an index into this


def climb(
    values: tuple[float, float, float], bounds: tuple[float, float, float], level: int
) -> int:
    """Return the new severity level (0 ok ... 3 critical) given the current one.

    Level 1 needs ``values[0] > bounds[0]``, 2 ``values[1] >= bounds[1]``, 3
    ``values[2] >= bounds[2]``. Rising is immediate; falling from level L needs
    ``values[L-1] <= HYSTERESIS * bounds[L-1]``, so a value flapping around a bound does not
    flap the state.
    """
    if values[2] >= bounds[2]:
        raw = 3
    elif values[1] >= bounds[1]:
        raw = 2
    else:
        raw = 1 if values[0] > bounds[0] else 0
    while level > raw and values[level - 1] <= HYSTERESIS * bounds[level - 1]:
        level -= 1
    return max(level, raw)


class Track:
    """Mutable state of one budget for one operation."""

    __slots__ = ("actual", "announced", "last_event_ns", "level", "seen", "state")

    def __init__(self) -> None:
        self.level = 0  # current severity, hysteresis applied
        self.announced = 0  # severity last sent as an event
        self.last_event_ns: int | None = None
        self.state: State = NO_DATA
        self.actual: float | None = None
        self.seen = 0  # the evaluation tick that last saw the operation

    @property
    def alert_state(self) -> State:
        """The state to announce: the severity while one is held, else ok/insufficient_data."""
        return _LEVELS[self.level] if self.level else self.state

    def measured(self, value: float, level: int) -> None:
        """Record a value judged at ``level``."""
        self.actual, self.level, self.state = value, level, _LEVELS[level]

    def no_data(self, *, silent: bool) -> None:
        """Record too few samples: hold the severity, or drop it when the traffic is gone."""
        self.actual, self.state = None, NO_DATA
        if silent:
            self.level = 0


Emit = Callable[[K, Track, State], None]


class Tracks(Generic[K]):
    """The tracks of one kind of check, and which of them have an alert open or pending."""

    __slots__ = ("_open", "tracks")

    def __init__(self) -> None:
        self.tracks: dict[K, Track] = {}
        # Keys whose alert is open or whose change is not yet announced; a dict keeps the
        # insertion order, so events come out in a deterministic order.
        self._open: dict[K, None] = {}

    def get(self, key: K, tick: int) -> Track:
        """Return the track for ``key`` (created on first use), marked as seen at ``tick``."""
        track = self.tracks.get(key)
        if track is None:
            track = self.tracks[key] = Track()
        track.seen = tick
        return track

    def changed(self, key: K, track: Track) -> None:
        """Note that ``track`` was updated; it must be announced if its level moved."""
        if track.level != track.announced:
            self._open[key] = None

    def settle(self, tick: int, now_ns: int, interval_ns: int, emit: Emit[K]) -> None:
        """Announce level changes, at most one event per track per ``interval_ns``.

        A change held back by the rate limit is announced on a later call if it still stands,
        so changes are coalesced, never lost. Tracks not seen at ``tick`` lost their traffic:
        their alert resolves as ``insufficient_data``.
        """
        for key in list(self._open):
            track = self.tracks[key]
            if track.seen != tick:
                track.no_data(silent=True)
            if track.level != track.announced and (
                track.last_event_ns is None or now_ns - track.last_event_ns >= interval_ns
            ):
                previous = _LEVELS[track.announced]
                track.announced, track.last_event_ns = track.level, now_ns
                emit(key, track, previous)
            if track.announced == track.level == 0:
                del self._open[key]

    def sweep(self, tick: int, now_ns: int, interval_ns: int) -> None:
        """Forget quiet tracks not seen at ``tick`` (operations that left the window).

        A track whose last event is younger than ``interval_ns`` is kept, so that the
        operation coming back cannot alert again before the rate limit allows.
        """
        stale = [
            key
            for key, track in self.tracks.items()
            if track.seen != tick
            and key not in self._open
            and (track.last_event_ns is None or now_ns - track.last_event_ns >= interval_ns)
        ]
        for key in stale:
            del self.tracks[key]

    def current(self, tick: int) -> list[tuple[K, Track]]:
        """Return the tracks seen at ``tick``."""
        return [(key, track) for key, track in self.tracks.items() if track.seen == tick]
