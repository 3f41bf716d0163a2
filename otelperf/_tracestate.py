"""The OpenTelemetry probability-sampling fields of ``tracestate``: ``ot=th:…`` and ``ot=rv:…``.

OpenTelemetry's consistent probability sampling (spec "TraceState: Probability Sampling") puts
the sampler's *rejection threshold* ``T`` in the ``th`` sub-key of the ``ot`` tracestate entry,
so a backend can turn each sampled span back into a count: a span kept with probability
``p = (2**56 - T) / 2**56`` stands for ``1 / p`` spans (its *adjusted count*). A trace is kept
when its 56-bit randomness ``R`` (the low 7 bytes of the trace id, or an explicit ``rv``) is at
least ``T``, so every participant using the same ``T`` reaches the same decision.

The threshold is written as 1 to 14 hex digits with trailing zeros removed (``th:0`` is 100 %,
``th:8`` 50 %, ``th:c`` 25 %); :func:`threshold_for` rounds a probability to ``precision``
significant hex digits (the spec recommends 4 for SDKs) after the leading ``f`` digits, which
gives the spec's table (1 % → ``fd70a``, 0.1 % → ``ffbe77`` at precision 4).

The first half of this module is plain integer and string work; :func:`with_threshold`,
:func:`threshold_of` and :func:`randomness_of` apply it to an OpenTelemetry ``TraceState``.
"""

from __future__ import annotations

import math
from fractions import Fraction

from opentelemetry.trace.span import TraceState

__all__ = [
    "DEFAULT_PRECISION",
    "MAX_THRESHOLD",
    "RANDOMNESS_MASK",
    "adjusted_count",
    "decode_randomness",
    "decode_threshold",
    "encode_threshold",
    "probability_of",
    "randomness_of",
    "set_threshold",
    "threshold_for",
    "threshold_of",
    "with_threshold",
]

OT_KEY = "ot"
"""The tracestate entry that holds every OpenTelemetry sub-key."""
MAX_THRESHOLD = 1 << 56
"""``2**56``: the threshold that rejects everything (never written: 0 % is not a probability)."""
RANDOMNESS_MASK = MAX_THRESHOLD - 1
"""The low 56 bits of a trace id: its randomness when the tracestate has no ``rv``."""
DEFAULT_PRECISION = 4
"""Significant hex digits of an encoded threshold (the spec's recommendation for SDKs)."""
_DIGITS = 14  # 56 bits, 4 per hex digit
_MAX_OT_LENGTH = 256  # the spec's limit on the whole ``ot`` value
_HEX = frozenset("0123456789abcdefABCDEF")


def threshold_for(probability: float, *, precision: int = DEFAULT_PRECISION) -> int:
    """Return the rejection threshold for ``probability``, rounded to ``precision`` hex digits.

    Precision counts digits after the leading ``f`` digits, so small probabilities keep their
    relative accuracy (0.01 → ``0xfd70a…``, five digits at precision 4). Rounding is to the
    nearest representable threshold, computed exactly (no floating-point formatting).

    Args:
        probability: In ``[2**-56, 1]``; 1 gives threshold 0 (keep everything).
        precision: Significant hex digits, 1 to 14.

    Raises:
        ValueError: ``probability`` or ``precision`` is out of range.
    """
    if not (math.isfinite(probability) and 2.0**-56 <= probability <= 1.0):
        raise ValueError(f"probability must be in [2**-56, 1], got {probability!r}")
    if not 1 <= precision <= _DIGITS:
        raise ValueError(f"precision must be between 1 and {_DIGITS}, got {precision!r}")
    if probability == 1.0:
        return 0
    # Each leading 'f' digit of the threshold is one power of 16 in 1/probability.
    _, exponent = math.frexp(probability)
    digits = max(1, min(_DIGITS, precision + exponent // -4))
    unit = 1 << (4 * (_DIGITS - digits))
    exact = (1 - Fraction(probability)) * MAX_THRESHOLD
    threshold = math.floor(exact / unit + Fraction(1, 2)) * unit
    # Rounding up may reach 2**56 (reject all) for the smallest probabilities: step back one.
    return min(threshold, MAX_THRESHOLD - unit)


def encode_threshold(threshold: int) -> str:
    """Write ``threshold`` as a ``th`` value: hex, trailing zeros removed, ``"0"`` for 0.

    Raises:
        ValueError: ``threshold`` is not in ``[0, 2**56)``.
    """
    if not 0 <= threshold < MAX_THRESHOLD:
        raise ValueError(f"threshold must be in [0, 2**56), got {threshold!r}")
    return f"{threshold:014x}".rstrip("0") or "0"


def decode_threshold(text: str) -> int | None:
    """Read a ``th`` value (1 to 14 hex digits, zero-extended on the right); None if invalid."""
    if not 1 <= len(text) <= _DIGITS or not _HEX.issuperset(text):
        return None
    return int(text, 16) << (4 * (_DIGITS - len(text)))


def decode_randomness(text: str) -> int | None:
    """Read an ``rv`` value (exactly 14 hex digits); None if invalid."""
    if len(text) != _DIGITS or not _HEX.issuperset(text):
        return None
    return int(text, 16)


def probability_of(threshold: int) -> float:
    """The sampling probability a threshold stands for: ``(2**56 - T) / 2**56``."""
    return (MAX_THRESHOLD - threshold) / MAX_THRESHOLD


def adjusted_count(threshold: int) -> float:
    """How many spans one span sampled at ``threshold`` represents: ``1 / probability``."""
    return MAX_THRESHOLD / (MAX_THRESHOLD - threshold)


def set_threshold(ot_value: str, threshold: int | None) -> str:
    """Return the ``ot`` entry value with ``th`` set to ``threshold``, or removed when None.

    Other sub-keys (``rv`` and any future one) are kept in order after ``th``. If the result
    would exceed the spec's 256 characters, the input is returned unchanged (the spec's advice:
    abort the update rather than lose other members).
    """
    kept = [member for member in ot_value.split(";") if member and not member.startswith("th:")]
    if threshold is not None:
        kept.insert(0, f"th:{encode_threshold(threshold)}")
    result = ";".join(kept)
    return result if len(result) <= _MAX_OT_LENGTH else ot_value


def _sub_value(ot_value: str, key: str) -> str | None:
    prefix = key + ":"
    for member in ot_value.split(";"):
        if member.startswith(prefix):
            return member[len(prefix) :]
    return None


# -- TraceState glue ----------------------------------------------------------------------------


def threshold_of(trace_state: TraceState | None) -> int | None:
    """The valid ``th`` threshold in ``trace_state``, or None (absent or malformed)."""
    ot_value = trace_state.get(OT_KEY) if trace_state else None
    if not ot_value:
        return None
    text = _sub_value(ot_value, "th")
    return None if text is None else decode_threshold(text)


def randomness_of(trace_id: int, trace_state: TraceState | None) -> int:
    """The trace's 56-bit randomness: a valid ``rv`` in ``trace_state``, else the id's low bits."""
    ot_value = trace_state.get(OT_KEY) if trace_state else None
    if ot_value and "rv:" in ot_value:
        text = _sub_value(ot_value, "rv")
        explicit = None if text is None else decode_randomness(text)
        if explicit is not None:
            return explicit
    return trace_id & RANDOMNESS_MASK


def with_threshold(trace_state: TraceState | None, threshold: int | None) -> TraceState:
    """Return ``trace_state`` with its ``ot`` entry's ``th`` set (or erased when None).

    Other vendors' entries are kept; an ``ot`` entry left empty is removed.
    """
    state = trace_state if trace_state is not None else TraceState()
    old = state.get(OT_KEY) or ""
    new = set_threshold(old, threshold)
    if new == old:
        return state
    # update() moves the entry to the front, as W3C Trace Context asks of a modified entry.
    return state.update(OT_KEY, new) if new else state.delete(OT_KEY)
