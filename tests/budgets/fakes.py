"""A tiny ``OperationView`` for tests: durations listed explicitly, quantiles by nearest rank."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

SECOND_NS = 1_000_000_000


@dataclass(frozen=True)
class FakeView:
    """An operation over one window, built from its durations (kept sorted)."""

    operation: str
    durations_ms: tuple[float, ...]
    errors: int = 0
    kind: str = "server"
    attributes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "durations_ms", tuple(sorted(self.durations_ms)))

    @property
    def count(self) -> int:
        return len(self.durations_ms)

    @property
    def mean_ms(self) -> float:
        return sum(self.durations_ms) / len(self.durations_ms) if self.durations_ms else 0.0

    @property
    def max_ms(self) -> float:
        return self.durations_ms[-1] if self.durations_ms else 0.0

    def quantile(self, q: float) -> float:
        if not self.durations_ms:
            return 0.0
        rank = max(1, math.ceil(q * len(self.durations_ms)))
        return self.durations_ms[rank - 1]

    def count_over(self, threshold_ms: float) -> int:
        return sum(1 for duration in self.durations_ms if duration > threshold_ms)


def steady(
    operation: str, value_ms: float, count: int = 50, *, errors: int = 0, **extra: object
) -> FakeView:
    """``count`` requests of ``operation`` that all took ``value_ms``."""
    return FakeView(operation, (value_ms,) * count, errors, **extra)  # type: ignore[arg-type]


def window(*views: FakeView) -> dict[str, FakeView]:
    """A window mapping operation key -> view."""
    return {view.operation: view for view in views}
