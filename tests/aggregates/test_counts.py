"""Bucket-count arrays: uint16 → uint32 → uint64 widening and the big-integer sum."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otelperf.aggregates._counts import NARROW, WIDE, downscaled, sum_type, summed, widened

LIMIT = {"H": 2**16, "I": 2**32, "Q": 2**64}
codes = st.sampled_from(["H", "I", "Q"])


@st.composite
def typed_arrays(draw: st.DrawFn, length: int | None = None) -> array[int]:
    code = draw(codes)
    size = draw(st.integers(0, 40)) if length is None else length
    items = draw(st.lists(st.integers(0, LIMIT[code] - 1), min_size=size, max_size=size))
    return array(code, items)


@st.composite
def pairs(draw: st.DrawFn) -> tuple[array[int], array[int]]:
    left = draw(typed_arrays())
    return left, draw(typed_arrays(len(left)))


class TestWidened:
    @given(counts=typed_arrays(), code=codes)
    def test_equals_item_by_item_conversion(self, counts: array[int], code: str) -> None:
        """Byte-level widening gives the same values as array(code, counts)."""
        if LIMIT[code] < LIMIT[counts.typecode]:
            return
        result = widened(counts, code)
        assert result.typecode == code and result.tolist() == counts.tolist()
        assert result is not counts

    def test_counts_start_narrow(self) -> None:
        """New arrays are uint16; the widest is uint64."""
        assert (array(NARROW).itemsize, array(WIDE).itemsize) == (2, 8)


class TestSummed:
    @given(pair=pairs())
    def test_equals_the_item_by_item_sum(self, pair: tuple[array[int], array[int]]) -> None:
        """The sum is exact, typed as the wider input or wider when the bound needs it."""
        left, right = pair
        expected = [a + b for a, b in zip(left, right, strict=True)]
        bound = max([0, *expected])
        if bound >= LIMIT["Q"]:
            with pytest.raises(OverflowError):
                summed(left, right, bound)
            return
        result = summed(left, right, bound)
        assert result.tolist() == expected
        assert result.typecode == sum_type(left.typecode, right.typecode, bound)
        assert LIMIT[result.typecode] > bound
        assert result.itemsize >= max(left.itemsize, right.itemsize)

    @pytest.mark.parametrize(
        ("left", "right", "bound", "code"),
        [
            ("H", "H", 2**16 - 1, "H"),
            ("H", "H", 2**16, "I"),
            ("H", "I", 5, "I"),
            ("I", "H", 2**32, "Q"),
            ("Q", "H", 1, "Q"),
        ],
    )
    def test_sum_type(self, left: str, right: str, bound: int, code: str) -> None:
        """The narrowest type at least as wide as both inputs that holds the bound."""
        assert sum_type(left, right, bound) == code


class TestDownscaled:
    def test_shift_zero_returns_the_input(self) -> None:
        """No shift: the same array and offset, no copy and no work."""
        counts = array("H", [1, 2, 3])
        assert downscaled(counts, 5, 0) == (counts, 5)

    def test_pairs_merge_and_widen(self) -> None:
        """One step down sums index pairs (2k, 2k+1); a full uint16 pair widens."""
        counts, offset = downscaled(array("H", [2**16 - 1, 2**16 - 1, 7]), 4, 1)
        assert (counts.tolist(), offset) == ([2**17 - 2, 7], 2)
        assert counts.typecode == "I"
