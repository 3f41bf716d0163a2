"""``BurnHistory``: the SLO ring's running window sums equal a brute-force recount."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from otelperf.budgets._burn import FAST, HISTORY_S, SLOT_NS, SLOW, BurnHistory

WINDOWS_S = (FAST.short_s, FAST.long_s, SLOW.short_s, SLOW.long_s)
SIZE = HISTORY_S * 1_000_000_000 // SLOT_NS

steps = st.lists(
    st.tuples(
        st.one_of(
            st.integers(min_value=-3, max_value=3),
            st.integers(min_value=0, max_value=400),
            st.integers(min_value=SIZE - 2, max_value=SIZE + 2),
        ),
        st.integers(min_value=0, max_value=9),
        st.integers(min_value=0, max_value=9),
    ),
    max_size=60,
)


class TestBurnHistory:
    @settings(max_examples=300, deadline=None)
    @given(start=st.integers(min_value=0, max_value=10**9), steps=steps)
    def test_window_sums_match_a_recount(
        self, start: int, steps: list[tuple[int, int, int]]
    ) -> None:
        """After any sequence of adds, each window's (total, bad) equals a recount."""
        history = BurnHistory(WINDOWS_S)
        recorded: list[tuple[int, int, int]] = []
        slot = last = start
        for advance, total, bad in steps:
            slot += advance
            history.add(slot, total, min(bad, total))
            last = max(last, slot) if recorded else slot
            recorded.append((last, total, min(bad, total)))
            for index, window_s in enumerate(WINDOWS_S):
                length = window_s * 1_000_000_000 // SLOT_NS
                inside = [(t, b) for s, t, b in recorded if last - length < s <= last]
                expected = (sum(t for t, _ in inside), sum(b for _, b in inside))
                assert history.counts(index) == expected

    def test_history_is_fixed_size(self) -> None:
        """Six hours of 10-second slots: 2160 per list, whatever is added."""
        history = BurnHistory(WINDOWS_S)
        for slot in range(10_000):
            history.add(slot, 1, 0)
        assert history.counts(3) == (SIZE, 0)
        assert SIZE == 2160

    def test_empty_history_counts_nothing(self) -> None:
        """Before any add every window is empty."""
        assert BurnHistory(WINDOWS_S).counts(0) == (0, 0)
