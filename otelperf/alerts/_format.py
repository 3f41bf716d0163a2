"""How alert values and windows are written for humans: ``312 ms``, ``1.23 %``, ``5 min``."""

from __future__ import annotations

import math

__all__ = ["format_duration", "format_value"]

TIMES = "\u00d7"  # the multiplication sign of "1.25x"


def format_value(value: float, unit: str) -> str:
    """Format ``value`` for humans in ``unit`` (an ``AlertUnit`` value).

    E.g. ``312 ms``, ``1.23 %``, ``40 MiB/h``, ``14.4×``.
    """  # noqa: RUF002 - the multiplication sign is meant
    if unit == "fraction":
        return f"{_number(value * 100)} %"
    if unit == "ratio":
        return f"{_number(value)}{TIMES}"
    if unit == "bytes":
        return _bytes(value)
    if unit == "bytes_per_h":
        return f"{_bytes(value)}/h"
    if unit == "count":
        return _number(value)
    return f"{_number(value)} {unit}"


def format_duration(seconds: float) -> str:
    """Format a window length: ``60 s``, ``5 min``, ``1 h``, ``7.5 h``, ``30 d``.

    Seconds below 2 minutes; otherwise days or hours when the window is exactly one of them or
    at least two, else minutes (so 5400 s is ``90 min``, not ``1.5 h``).
    """
    if not seconds >= 120:
        return f"{_number(seconds)} s"
    for unit_s, label in ((86_400, "d"), (3_600, "h")):
        count = seconds / unit_s
        if count >= 2 or count == 1:
            return f"{_number(count)} {label}"
    return f"{_number(seconds / 60)} min"


def _number(value: float) -> str:
    # Three significant digits read well for measurements ("312", "1.25", "0.00123"); large
    # values are shown whole because "%g" would switch to exponent notation.
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 999.5:
        return f"{value:.0f}"
    return f"{value:.3g}"


def _bytes(value: float) -> str:
    scaled, prefix = value, ""
    for next_prefix in ("Ki", "Mi", "Gi", "Ti", "Pi"):
        if not abs(scaled) >= 1024:
            break
        scaled, prefix = scaled / 1024, next_prefix
    return f"{_number(scaled)} {prefix}B"
