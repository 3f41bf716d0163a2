"""Bucket-count arrays: the storage layout shared by ``ExpSketch`` and ``ExpBuckets``.

Counts live in one contiguous ``array`` over bucket indices ``[offset, offset + len)`` rather
than a dict: 4 bytes per bucket instead of ~100 for a dict entry with boxed ints, so a 3-decade
spread at scale 6 (639 buckets) takes ~2.6 KiB. Arrays start as uint32 and are widened to
uint64 on the first overflow.
"""

from __future__ import annotations

import sys
from array import array
from operator import add

NARROW = "I"
WIDE = "Q"


def shift_to_fit(low: int, high: int, max_size: int) -> int:
    """Return the smallest downscale that fits bucket indices ``[low, high]`` in ``max_size``."""
    shift = 0
    while (high >> shift) - (low >> shift) >= max_size:
        shift += 1
    return shift


def summed(left: array[int], right: array[int], bound: int) -> array[int]:
    """Return the element-wise sum of two equal-length arrays.

    ``bound`` must be at least every element of the result (a total count will do). When it
    fits the array's item width no field can carry into its neighbour, so the arrays are
    added as two big integers, one C-level addition: ~6x faster than a per-item loop.
    Otherwise the sum is built item by item, widened to uint64 if uint32 overflows.
    """
    if left.typecode == right.typecode and bound < 1 << (8 * left.itemsize):
        total = int.from_bytes(left.tobytes(), sys.byteorder) + int.from_bytes(
            right.tobytes(), sys.byteorder
        )
        result = array(left.typecode)
        result.frombytes(total.to_bytes(len(left) * left.itemsize, sys.byteorder))
        return result
    try:
        return array(left.typecode, map(add, left, right))
    except OverflowError:
        return array(WIDE, map(add, left, right))


def downscaled(counts: array[int], offset: int, shift: int) -> tuple[array[int], int]:
    """Return ``counts`` (starting at index ``offset``) re-bucketed ``shift`` scales lower.

    Each step pads to an even start and length, then sums adjacent pairs: index ``i`` at
    scale ``s`` lands in ``i >> 1`` at scale ``s - 1``. ``counts`` itself is never modified.
    """
    bound = sum(counts)  # no merged bucket can exceed the total
    for _ in range(shift):
        if counts:
            if offset & 1:
                counts = array(counts.typecode, [0]) + counts
                offset -= 1
            if len(counts) & 1:
                counts = counts + array(counts.typecode, [0])
            counts = summed(counts[0::2], counts[1::2], bound)
        offset >>= 1
    return counts, offset
