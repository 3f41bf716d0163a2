"""The ``ot=th`` threshold encoding, checked against the specification's own examples."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.trace.span import TraceState

from otelperf._tracestate import (
    MAX_THRESHOLD,
    adjusted_count,
    decode_randomness,
    decode_threshold,
    encode_threshold,
    probability_of,
    randomness_of,
    set_threshold,
    threshold_for,
    threshold_of,
    with_threshold,
)

# The table of "TraceState: Probability Sampling" (Algorithms): 1-in-N probability and the th
# value at precision 3, 4 and 5.
SPEC_TABLE = [
    (1, 1.0, ("0", "0", "0")),
    (2, 0.5, ("8", "8", "8")),
    (3, 1 / 3, ("aab", "aaab", "aaaab")),
    (4, 0.25, ("c", "c", "c")),
    (5, 0.2, ("ccd", "cccd", "ccccd")),
    (8, 0.125, ("e", "e", "e")),
    (10, 0.1, ("e66", "e666", "e6666")),
    (16, 0.0625, ("f", "f", "f")),
    (100, 0.01, ("fd71", "fd70a", "fd70a4")),
    (1000, 0.001, ("ffbe7", "ffbe77", "ffbe76d")),
    (10000, 0.0001, ("fff972", "fff9724", "fff97247")),
    (100000, 0.00001, ("ffff584", "ffff583a", "ffff583a5")),
    (1000000, 0.000001, ("ffffef4", "ffffef39", "ffffef391")),
]


class TestThresholdEncoding:
    @pytest.mark.parametrize(("one_in", "probability", "expected"), SPEC_TABLE)
    def test_matches_the_specification_table(
        self, one_in: int, probability: float, expected: tuple[str, str, str]
    ) -> None:
        """threshold_for + encode_threshold reproduce the spec's th values at precision 3-5."""
        got = tuple(encode_threshold(threshold_for(probability, precision=p)) for p in (3, 4, 5))
        assert got == expected
        # The adjusted count is 1/probability to within the precision (spec's last column).
        count = adjusted_count(threshold_for(probability))
        assert count == pytest.approx(one_in, rel=1e-4)

    def test_specification_text_examples(self) -> None:
        """1 % at 5 digits is 0xfd70a400000000 = th:fd70a4; th:0 is 100 %; th:8 is 50 %."""
        one_percent = threshold_for(0.01, precision=5)
        assert one_percent == 0xFD70A400000000 == 71337018784743424
        assert encode_threshold(one_percent) == "fd70a4"
        assert decode_threshold("fd70a4") == one_percent
        assert probability_of(decode_threshold("0") or 0) == 1.0
        assert probability_of(decode_threshold("8") or 0) == 0.5

    @pytest.mark.parametrize("text", ["", "g", "123456789012345", "fd 70", "-1"])
    def test_invalid_th_values_decode_to_none(self, text: str) -> None:
        """Empty, non-hex or over-long th values are not thresholds."""
        assert decode_threshold(text) is None

    def test_upper_case_hex_is_accepted(self) -> None:
        """The spec's hexdigit rule allows A-F."""
        assert decode_threshold("FD70A") == decode_threshold("fd70a")

    @pytest.mark.parametrize("text", ["", "abc", "0123456789abcdef", "zzzzzzzzzzzzzz"])
    def test_rv_needs_exactly_14_hex_digits(self, text: str) -> None:
        """rv values other than 14 hex digits are rejected."""
        assert decode_randomness(text) is None
        assert decode_randomness("0123456789abcd") == 0x0123456789ABCD

    @given(st.integers(min_value=0, max_value=MAX_THRESHOLD - 1))
    def test_encode_decode_round_trip(self, threshold: int) -> None:
        """Any 56-bit threshold survives encoding."""
        assert decode_threshold(encode_threshold(threshold)) == threshold

    @given(st.floats(min_value=2.0**-56, max_value=1.0), st.integers(min_value=1, max_value=14))
    def test_rounding_is_within_half_a_digit(self, probability: float, precision: int) -> None:
        """The threshold is within half a unit of its last digit of the exact one, below 2**56."""
        threshold = threshold_for(probability, precision=precision)
        encoded = encode_threshold(threshold)
        unit = 16 ** (14 - max(len(encoded), 1))
        exact = (1 - probability) * MAX_THRESHOLD
        assert 0 <= threshold < MAX_THRESHOLD
        assert abs(threshold - exact) <= max(unit, 2**-52 * MAX_THRESHOLD)

    @given(st.floats(min_value=2.0**-40, max_value=1.0))
    def test_agrees_with_the_sdk_experimental_full_precision(self, probability: float) -> None:
        """At 14 digits our threshold is the SDK experimental calculate_threshold (to 1 unit)."""
        util = pytest.importorskip("opentelemetry.sdk.trace._sampling_experimental._util")
        # Equal but for exact ties, which the SDK rounds to even and we round up.
        assert (
            abs(threshold_for(probability, precision=14) - util.calculate_threshold(probability))
            <= 1
        )

    @pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, float("nan"), float("inf")])
    def test_bad_probability_raises(self, bad: float) -> None:
        """Probabilities outside [2**-56, 1] raise ValueError."""
        with pytest.raises(ValueError, match="probability"):
            threshold_for(bad)

    def test_bad_precision_and_threshold_raise(self) -> None:
        """Precision outside 1..14 and thresholds outside [0, 2**56) raise ValueError."""
        with pytest.raises(ValueError, match="precision"):
            threshold_for(0.5, precision=0)
        with pytest.raises(ValueError, match="threshold"):
            encode_threshold(MAX_THRESHOLD)


class TestOtEntry:
    def test_set_replaces_th_and_keeps_other_members(self) -> None:
        """Setting th replaces the old one, puts it first and keeps rv and unknown keys."""
        assert set_threshold("rv:0123456789abcd;th:8;k1:13", 0) == "th:0;rv:0123456789abcd;k1:13"

    def test_erase_removes_only_th(self) -> None:
        """Erasing th keeps the other members; an empty entry stays empty."""
        assert set_threshold("th:8;rv:0123456789abcd", None) == "rv:0123456789abcd"
        assert set_threshold("th:8", None) == ""

    def test_too_long_result_is_refused(self) -> None:
        """A result over 256 characters leaves the entry unchanged (the spec's advice)."""
        long = "k1:" + "a" * 252
        assert set_threshold(long, 0) == long


class TestTraceStateGlue:
    def test_with_threshold_on_empty_state(self) -> None:
        """A root's missing tracestate becomes ot=th:…."""
        assert with_threshold(None, threshold_for(0.01)).to_header() == "ot=th:fd70a"

    def test_with_threshold_keeps_vendors_and_moves_ot_first(self) -> None:
        """Other vendors' entries stay; the updated ot entry moves to the front."""
        state = TraceState([("vendor", "x"), ("ot", "rv:0123456789abcd")])
        header = with_threshold(state, threshold_for(0.25)).to_header()
        assert header == "ot=th:c;rv:0123456789abcd,vendor=x"

    def test_erasing_the_only_member_drops_the_ot_entry(self) -> None:
        """With th erased and nothing else in it, the ot entry disappears."""
        state = TraceState([("ot", "th:8"), ("vendor", "x")])
        assert with_threshold(state, None).to_header() == "vendor=x"

    def test_threshold_and_randomness_are_read_back(self) -> None:
        """threshold_of and randomness_of read th and rv; the trace id's low 56 bits otherwise."""
        state = TraceState([("ot", "th:c;rv:00000000000005")])
        assert threshold_of(state) == 0xC0000000000000
        assert randomness_of(2**100 + 7, state) == 5
        assert randomness_of(2**100 + 7, None) == 7
        assert threshold_of(TraceState([("ot", "th:xyz")])) is None
        assert threshold_of(None) is None
