"""OpenTelemetry's base-2 exponential bucket mapping, as pure functions.

The OTel metrics data model defines, for an integer ``scale``, the base
``base = 2 ** (2 ** -scale)`` and positive buckets where index ``i`` covers
``(base ** i, base ** (i + 1)]`` (upper-inclusive). Exported ``ExponentialHistogram`` points
use exactly these buckets, so the sketch uses them too and its buckets export 1:1.

The mapping here is exact for every positive finite float, including values that lie within
a rounding error of a bucket boundary: the spec's logarithm method is only required to be
exact at powers of two, so values that land within 2**(scale-40) of an integer after
``log2(v) * 2**scale`` are decided with exact integer arithmetic. Subnormal values are mapped
by the same rule (the spec allows rounding them up to the smallest normal value; we need not).
"""

from __future__ import annotations

import math

__all__ = [
    "MAX_SCALE",
    "MIN_SCALE",
    "bucket_index",
    "lower_boundary",
    "midpoint",
    "relative_error",
]

MIN_SCALE = -10
"""Smallest scale the OTel data model allows; at it every float fits in 3 buckets."""
MAX_SCALE = 20
"""Largest scale the OTel data model allows (indices must fit in a signed 32-bit int)."""

# |fl(log2 v) - log2 v| <= 2 ulp <= 2**-41 for every positive float (|log2 v| < 1100), so the
# scaled value t = fl(log2 v) * 2**scale is within 2**(scale-41) of the true one. A t farther
# than 2**(scale-40) from every integer therefore has the same ceiling as the exact value.
_TOLERANCE = tuple(math.ldexp(1.0, scale - 40) for scale in range(MAX_SCALE + 1))
# Bits kept while squaring in the exact fallback; raised until the comparison is decided.
_START_PRECISION_BITS = 128


def bucket_index(value: float, scale: int) -> int:
    """Return the index of the bucket that holds ``value`` at ``scale``.

    Args:
        value: A positive finite float (zero goes to the zero bucket, not to an index).
        scale: The histogram scale, in ``[MIN_SCALE, MAX_SCALE]``.

    Returns:
        The ``i`` with ``base ** i < value <= base ** (i + 1)``.

    Raises:
        ValueError: If ``value`` is not positive and finite, or ``scale`` is out of range.
    """
    if not 0.0 < value < math.inf:
        raise ValueError(f"bucket_index needs a positive finite value, got {value!r}")
    if not MIN_SCALE <= scale <= MAX_SCALE:
        raise ValueError(f"scale must be in [{MIN_SCALE}, {MAX_SCALE}], got {scale!r}")
    return _index(value, scale)


def _index(value: float, scale: int) -> int:
    """``bucket_index`` without argument checks (the sketch's hot loop inlines a copy)."""
    if scale > 0:
        scaled = math.log2(value) * (1 << scale)
        upper = math.ceil(scaled)
        tolerance = _TOLERANCE[scale]
        if tolerance < upper - scaled < 1.0 - tolerance:
            return upper - 1
        return _exact_positive_scale_index(value, scale, round(scaled))
    # Scale <= 0: the IEEE exponent is the scale-0 index, except that an exact power of two
    # sits on the (inclusive) upper boundary of the bucket below. frexp gives value = m * 2**e
    # with m in [0.5, 1), so m == 0.5 marks a power of two; subnormals are normalised by frexp.
    mantissa, exponent = math.frexp(value)
    return (exponent - 2 if mantissa == 0.5 else exponent - 1) >> -scale


def _exact_positive_scale_index(value: float, scale: int, near: int) -> int:
    """Return the bucket index of ``value`` when ``log2(value) * 2**scale`` is close to ``near``.

    Decides ``value > base ** near`` (i.e. ``value ** (2 ** scale) > 2 ** near``) exactly, by
    squaring ``scale`` times with upper and lower integer bounds that keep a fixed number of
    bits, and retrying with more bits until the bounds agree. The true scaled logarithm must
    lie in ``(near - 1, near + 1)``, which ``bucket_index`` guarantees.

    Args:
        value: A positive finite float.
        scale: A positive scale.
        near: The integer nearest to ``log2(value) * 2**scale``.

    Returns:
        ``near`` if ``value`` is above the boundary ``base ** near``, else ``near - 1``.
    """
    numerator, denominator = value.as_integer_ratio()  # denominator is a power of two
    exponent = 1 - denominator.bit_length()
    precision = _START_PRECISION_BITS
    while True:
        low = high = numerator
        low_exponent = exponent
        for _ in range(scale):
            low *= low
            high *= high
            low_exponent *= 2
            excess = high.bit_length() - precision
            if excess > 0:
                low >>= excess
                high = -(-high >> excess)  # rounds up, so `high` stays an upper bound
                low_exponent += excess
        # low * 2**low_exponent <= value ** (2**scale) <= high * 2**low_exponent
        if _compare_with_power_of_two(low, low_exponent, near) > 0:
            return near
        if _compare_with_power_of_two(high, low_exponent, near) <= 0:
            return near - 1
        precision *= 4


def _compare_with_power_of_two(mantissa: int, exponent: int, power: int) -> int:
    """Return the sign of ``mantissa * 2**exponent - 2**power`` (mantissa > 0)."""
    if exponent >= power:
        left, right = mantissa << (exponent - power), 1
    else:
        left, right = mantissa, 1 << (power - exponent)
    return (left > right) - (left < right)


def lower_boundary(index: int, scale: int) -> float:
    """Return ``base ** index``, the exclusive lower boundary of bucket ``index``.

    Args:
        index: A bucket index.
        scale: The histogram scale (any integer; the OTel range is not enforced here).

    Returns:
        The boundary as the nearest float; ``math.inf`` above the float range and ``0.0``
        (or a subnormal) below it.
    """
    if scale <= 0:
        exponent, fraction = index << -scale, 0.0
    else:
        exponent, remainder = divmod(index, 1 << scale)
        fraction = remainder / (1 << scale)
    try:
        return math.ldexp(2.0**fraction, exponent)
    except OverflowError:
        return math.inf


def midpoint(index: int, scale: int) -> float:
    """Return the logarithmic midpoint ``base ** (index + 0.5)`` of bucket ``index``.

    It is the point of the bucket with the smallest worst-case relative error: every value in
    the bucket is within ``relative_error(scale)`` of it. Beyond the float range it is
    ``math.inf`` (never for a bucket that a finite float maps to); far below, ``0.0``.

    Args:
        index: A bucket index.
        scale: The histogram scale.
    """
    exponent = (index + 0.5) / (1 << scale) if scale > 0 else (index + 0.5) * (1 << -scale)
    try:
        return float(2.0**exponent)
    except OverflowError:
        return math.inf


def relative_error(scale: int) -> float:
    """Return the worst relative error of a bucket's midpoint for any value in that bucket.

    With ``x`` in ``(base**i, base**(i+1)]`` and ``m = base**(i+0.5)``, ``|m - x| / x`` is at
    most ``sqrt(base) - 1 = 2 ** (2 ** (-scale - 1)) - 1``: 0.543 % at scale 6, 0.136 % at 8.

    Args:
        scale: The histogram scale.
    """
    return float(2.0 ** (2.0 ** (-scale - 1)) - 1.0)
