"""Numbers with units in budget strings, parsed and formatted so that text round-trips exactly.

Parsing scales the decimal digits the user wrote with :mod:`decimal` arithmetic and rounds to a
float once. Formatting divides the float's shortest ``repr`` by the same factor, which is exact,
so ``parse(format(x)) == x`` for every finite float ``x`` and every unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Context, Decimal
from types import MappingProxyType

__all__ = [
    "LATENCY_UNITS",
    "PERCENT",
    "WINDOW_UNITS",
    "format_latency_ms",
    "format_percent",
    "format_plain",
    "format_window_s",
    "scaled",
]

# 60 significant digits hold any float's repr times 1000 exactly, so scaling never rounds
# the numbers the formatter writes.
_CONTEXT = Context(prec=60)

LATENCY_UNITS: Mapping[str, Decimal] = MappingProxyType(
    {"us": Decimal("0.001"), "ms": Decimal(1), "s": Decimal(1000)}
)
"""Latency units and their size in milliseconds."""

WINDOW_UNITS: Mapping[str, Decimal] = MappingProxyType(
    {"s": Decimal(1), "m": Decimal(60), "h": Decimal(3600), "d": Decimal(86400)}
)
"""Window units and their size in seconds."""

PERCENT = Decimal("0.01")
"""The size of one percent as a fraction."""


def scaled(digits: str, factor: Decimal) -> float:
    """Return the number written as ``digits`` times ``factor``, rounded once to a float.

    Args:
        digits: Decimal digits with an optional fraction (``"2.5"``), as the parser scanned them.
        factor: The unit's size, e.g. ``LATENCY_UNITS["s"]``.

    Returns:
        The scaled value; ``inf`` when it is too large for a float.
    """
    return float(_CONTEXT.multiply(Decimal(digits), factor))


def _unscaled(value: float, factor: Decimal) -> str:
    return _text(_CONTEXT.divide(Decimal(repr(value)), factor))


def _text(number: Decimal) -> str:
    text = format(_CONTEXT.normalize(number), "f")
    return "0" if text in ("-0", "0") else text


def format_plain(value: float) -> str:
    """Format ``value`` in positional notation without exponent (``1e-05`` -> ``0.00001``)."""
    return _text(Decimal(repr(value)))


def format_latency_ms(value_ms: float) -> str:
    """Format a duration with the unit a person would pick: ``250ms``, ``2.5s``, ``500us``."""
    if value_ms >= 1000:
        return _unscaled(value_ms, LATENCY_UNITS["s"]) + "s"
    if value_ms < 1:
        return _unscaled(value_ms, LATENCY_UNITS["us"]) + "us"
    return format_plain(value_ms) + "ms"


def format_percent(fraction: float) -> str:
    """Format a fraction as a percentage: ``0.01`` -> ``1%``."""
    return _unscaled(fraction, PERCENT) + "%"


def format_window_s(window_s: float) -> str:
    """Format a window in the largest unit that divides it exactly: ``300`` -> ``5m``."""
    exact = Decimal(repr(window_s))
    for unit in ("d", "h", "m"):
        size = WINDOW_UNITS[unit]
        if exact >= size and _CONTEXT.remainder(exact, size) == 0:
            return _unscaled(window_s, size) + unit
    return format_plain(window_s) + "s"
