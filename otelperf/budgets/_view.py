"""``OperationView``: what budget evaluation reads about one operation over one window."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

__all__ = ["OperationView"]


class OperationView(Protocol):
    """What the evaluator reads about one operation over one window (structural type).

    ``otelperf.aggregates``' ``OperationStats`` is meant to satisfy it; tests use a small fake.
    """

    @property
    def operation(self) -> str:
        """The operation key (span name, possibly extended by key attributes)."""

    @property
    def kind(self) -> str:
        """The span kind name, any case (``"SERVER"``); only ``kind=`` selectors read it."""

    @property
    def attributes(self) -> Mapping[str, str]:
        """The operation's key attributes (may be empty); only ``attr.`` selectors read it."""

    @property
    def count(self) -> int:
        """Requests in the window."""

    @property
    def errors(self) -> int:
        """Failed requests in the window."""

    @property
    def mean_ms(self) -> float:
        """Mean duration in ms."""

    @property
    def max_ms(self) -> float:
        """Largest duration in ms."""

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (``q`` in [0, 1]) of durations, in ms."""

    def count_over(self, threshold_ms: float) -> int:
        """How many requests took longer than ``threshold_ms``."""
