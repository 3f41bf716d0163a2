from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otelperf.aggregates import (
    MAX_SCALE,
    MIN_SCALE,
    bucket_index,
    lower_boundary,
    midpoint,
    relative_error,
)
from otelperf.aggregates import mapping as mapping_module
from tests.aggregates._reference import reference_index

positive_floats = st.floats(min_value=5e-324, max_value=1.7e308, allow_nan=False)


class TestBucketIndex:
    @pytest.mark.parametrize(
        ("value", "scale", "expected"),
        [
            (1.0, 0, -1),  # (0.5, 1]: upper-inclusive
            (1.5, 0, 0),
            (2.0, 0, 0),
            (2.000001, 0, 1),
            (4.0, 0, 1),
            (0.5, 0, -2),
            (3.0, 1, 3),  # base sqrt(2): (2.83, 4]
            (1.5, 1, 1),  # (1.414, 2]
            (1.414213562373095, 1, 0),  # the float below sqrt(2) is below the true boundary
            (1.4142135623730951, 1, 1),  # float sqrt(2) is just above it
            (1.0, -1, -1),  # base 4: (1/4, 1]
            (4.0, -1, 0),
            (5.0, -1, 1),
            (16.0, -1, 1),
            (17.0, -1, 2),
            (0.25, -1, -2),
            (1e300, -10, 0),  # at scale -10 a bucket spans 1024 binary octaves
            (5e-324, -10, -2),
            (5e-324, 0, -1075),  # the smallest subnormal is the power of two 2**-1074
            (1.7976931348623157e308, 0, 1023),
        ],
    )
    def test_known_values_map_to_the_specified_bucket(
        self, value: float, scale: int, expected: int
    ) -> None:
        """Hand-checked values land in the bucket the data model defines."""
        assert bucket_index(value, scale) == expected

    @pytest.mark.parametrize("scale", [-10, -4, -1, 0, 1, 2, 3, 6, 8, 12, 20])
    def test_every_power_of_two_is_the_upper_boundary_of_its_bucket(self, scale: int) -> None:
        """2**e maps to index e * 2**scale - 1 (scale >= 0) or (e - 1) >> -scale (< 0)."""
        for exponent in range(-1074, 1024):
            value = math.ldexp(1.0, exponent)
            expected = (exponent << scale) - 1 if scale >= 0 else (exponent - 1) >> -scale
            assert bucket_index(value, scale) == expected, exponent

    @pytest.mark.parametrize("scale", [1, 2, 3, 5, 6, 7, 8, 10])
    def test_floats_next_to_a_boundary_map_exactly(self, scale: int) -> None:
        """The floats at and around base**i land where exact arithmetic puts them."""
        for index in [*range(-1000, 1000, 7), -80_000 >> (10 - scale), 60_000 >> (10 - scale)]:
            boundary = lower_boundary(index, scale)
            for value in (math.nextafter(boundary, 0.0), boundary, math.nextafter(boundary, 2.0)):
                assert bucket_index(value, scale) == reference_index(value, scale), (index, value)

    @given(value=positive_floats, scale=st.integers(min_value=MIN_SCALE, max_value=8))
    def test_any_float_maps_like_exact_arithmetic(self, value: float, scale: int) -> None:
        """For any positive float the index equals the exact rational result."""
        assert bucket_index(value, scale) == reference_index(value, scale)

    def test_undecided_exact_comparison_retries_with_more_bits(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With too few bits to decide, the exact fallback widens and still gets it right."""
        monkeypatch.setattr(mapping_module, "_START_PRECISION_BITS", 4)
        for index in range(-300, 300, 11):
            boundary = lower_boundary(index, 8)
            for value in (math.nextafter(boundary, 0.0), math.nextafter(boundary, 2.0)):
                assert bucket_index(value, 8) == reference_index(value, 8)

    @pytest.mark.parametrize("value", [0.0, -0.0, -1.0, math.inf, -math.inf, math.nan])
    def test_rejects_values_without_a_positive_bucket(self, value: float) -> None:
        """Zero, negatives, infinities and NaN have no positive bucket."""
        with pytest.raises(ValueError, match="positive finite"):
            bucket_index(value, 3)

    @pytest.mark.parametrize("scale", [MIN_SCALE - 1, MAX_SCALE + 1])
    def test_rejects_scales_outside_the_data_model(self, scale: int) -> None:
        """Scales outside [-10, 20] are refused."""
        with pytest.raises(ValueError, match="scale must be in"):
            bucket_index(1.0, scale)


class TestBoundaries:
    @pytest.mark.parametrize(
        ("index", "scale", "expected"),
        [
            (0, 0, 1.0),
            (0, 7, 1.0),
            (1, 0, 2.0),
            (-1, 0, 0.5),
            (1, 1, math.sqrt(2.0)),
            (3, 2, 2.0**0.75),
            (-3, 2, 2.0**-0.75),
            (1, -1, 4.0),
            (-1, -1, 0.25),
            (1024, 0, math.inf),
            (1024 << 20, 20, math.inf),
            (-1100, 0, 0.0),
        ],
    )
    def test_lower_boundary_is_base_to_the_index(
        self, index: int, scale: int, expected: float
    ) -> None:
        """lower_boundary(i, s) == 2 ** (i / 2**s), with overflow to inf and underflow to 0."""
        assert lower_boundary(index, scale) == pytest.approx(expected, rel=1e-15)

    @given(
        index=st.integers(min_value=-60_000, max_value=60_000),
        scale=st.integers(min_value=MIN_SCALE, max_value=MAX_SCALE),
    )
    def test_midpoint_lies_inside_its_bucket(self, index: int, scale: int) -> None:
        """The midpoint of bucket i maps back to bucket i; beyond the float range it is inf."""
        value = midpoint(index, scale)
        if 2.3e-308 < value < math.inf:
            assert bucket_index(value, scale) == index
        elif value == math.inf:
            assert lower_boundary(index, scale) == math.inf

    @pytest.mark.parametrize(
        ("scale", "expected"),
        [(6, 0.0054299), (7, 0.0027112), (8, 0.0013547), (0, 0.4142136), (-1, 1.0)],
    )
    def test_relative_error_is_sqrt_base_minus_one(self, scale: int, expected: float) -> None:
        """relative_error(6) is 0.543 %: the <= 0.55 % promise at scale 6."""
        assert relative_error(scale) == pytest.approx(expected, rel=1e-4)

    @given(value=st.floats(min_value=1e-300, max_value=1e300), scale=st.integers(-3, 12))
    def test_midpoint_is_within_relative_error_of_every_value(
        self, value: float, scale: int
    ) -> None:
        """|midpoint / x - 1| <= relative_error(scale) for every x in the bucket."""
        estimate = midpoint(bucket_index(value, scale), scale)
        assert abs(estimate / value - 1.0) <= relative_error(scale) * (1 + 1e-9)
