from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otelperf.aggregates import MIXED_KIND, OTHER_KEY, KeyedWindows

S = 1_000_000_000
MS = 1_000_000

spans = st.lists(
    st.tuples(
        st.sampled_from(["GET /a", "GET /b", "POST /c", "db.query", "render"]),
        st.sampled_from(["server", "client"]),
        st.integers(min_value=0, max_value=10 * S),
        st.booleans(),
    ),
    max_size=80,
)


def store_with(items: list[tuple[str, str, int, bool]], **kwargs: int) -> KeyedWindows:
    store = KeyedWindows(**kwargs)
    store.add_batch(items, 0)
    return store


class TestConstruction:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"max_operations": 0}, "max_operations must be at least 1"),
            ({"window_ns": 7, "sub_windows": 6}, "positive multiple"),
            ({"max_scale": 30}, "max_scale"),
        ],
    )
    def test_rejects_bad_arguments_at_once(self, kwargs: dict[str, int], message: str) -> None:
        """Bad settings fail in the constructor, not at the first sample."""
        with pytest.raises(ValueError, match=message):
            KeyedWindows(**kwargs)


class TestAddBatch:
    def test_durations_become_exact_milliseconds(self) -> None:
        """ns go in, ms come out; min/max/mean are exact."""
        store = store_with(
            [("GET /a", "server", 1_500_000, False), ("GET /a", "server", 2_500_000, True)]
        )
        stats = store.stats("GET /a", 0)
        assert stats is not None
        assert (stats.count, stats.errors, stats.error_rate) == (2, 1, 0.5)
        assert (stats.min_ms, stats.max_ms, stats.mean_ms) == (1.5, 2.5, 2.0)
        assert stats.kind == "server"

    @given(items=spans)
    def test_every_sample_lands_under_its_operation(
        self, items: list[tuple[str, str, int, bool]]
    ) -> None:
        """Per operation, the store's count, errors and max equal the input's."""
        store = store_with(items)
        for operation in {item[0] for item in items}:
            mine = [item for item in items if item[0] == operation]
            stats = store.stats(operation, 0)
            assert stats is not None
            assert stats.count == len(mine)
            assert stats.errors == sum(item[3] for item in mine)
            assert stats.max_ms == pytest.approx(max(item[2] for item in mine) / MS, rel=1e-15)
        assert set(store.operations) == {item[0] for item in items}

    def test_negative_durations_are_recorded_as_zero_and_counted(self) -> None:
        """A clock step backwards gives a 0 duration, not an error."""
        store = store_with([("x", "internal", -5, False), ("x", "internal", 1 * MS, False)])
        stats = store.stats("x", 0)
        assert stats is not None and stats.min_ms == 0.0
        assert store.negative_durations == 1

    @pytest.mark.parametrize(
        ("batches", "kind"),
        [
            ([[("op", "server", 1, False)]], "server"),
            ([[("op", "server", 1, False), ("op", "client", 1, False)]], MIXED_KIND),
            ([[("op", "server", 1, False)], [("op", "client", 1, False)]], MIXED_KIND),
        ],
    )
    def test_a_key_seen_with_two_kinds_is_mixed(
        self, batches: list[list[tuple[str, str, int, bool]]], kind: str
    ) -> None:
        """Kinds that disagree, within or across batches, make the key 'mixed'."""
        store = KeyedWindows()
        for batch in batches:
            store.add_batch(batch, 0)
        assert store.kind("op") == kind
        assert store.kind("never seen") is None


class TestFolding:
    def test_operations_beyond_the_cap_fold_into_other(self) -> None:
        """With max_operations=2 the third and fourth operations share OTHER_KEY."""
        items = [(f"op{i}", "server", (i + 1) * MS, False) for i in range(4)] * 2
        store = store_with(items, max_operations=2)
        assert store.operations == ("op0", "op1", OTHER_KEY)
        assert (store.folded_samples, store.folded_keys) == (4, 2)
        other = store.stats(OTHER_KEY, 0)
        assert other is not None and (other.count, other.max_ms) == (4, 4.0)
        assert "op2" not in store and OTHER_KEY in store and len(store) == 3

    def test_existing_keys_keep_their_window_when_full(self) -> None:
        """Keys created before the cap was reached still get their own samples."""
        store = store_with(
            [("a", "server", MS, False), ("b", "server", MS, False)], max_operations=1
        )
        store.add_batch([("a", "server", MS, False)], 1)
        stats = store.stats("a", 1)
        assert stats is not None and stats.count == 2
        assert store.folded_samples == 1

    def test_folded_kinds_mix_in_other(self) -> None:
        """OTHER_KEY is 'mixed' once operations of different kinds fold into it."""
        store = store_with(
            [("a", "server", MS, False), ("b", "client", MS, False), ("c", "server", MS, False)],
            max_operations=1,
        )
        assert store.kind(OTHER_KEY) == MIXED_KIND

    def test_a_literal_other_key_does_not_use_up_the_cap(self) -> None:
        """Spans named otelperf.other go to OTHER_KEY without taking an operation slot."""
        store = store_with(
            [(OTHER_KEY, "internal", MS, False), ("a", "server", MS, False)], max_operations=1
        )
        assert store.operations == (OTHER_KEY, "a")
        assert store.folded_samples == 0

    def test_folded_key_names_are_bounded(self) -> None:
        """Distinct folded names are remembered only up to max_operations."""
        items = [(f"op{i}", "server", MS, False) for i in range(10)]
        store = store_with(items, max_operations=3)
        assert store.max_operations == 3
        assert store.folded_samples == 7
        assert store.folded_keys == 3  # a lower bound once the cap is reached


class TestReads:
    def test_idle_keys_have_no_stats_but_keep_their_cumulative(self) -> None:
        """After the window passes, stats() is None and all_stats() omits the key."""
        store = store_with([("a", "server", MS, True)])
        store.add_batch([("b", "server", 2 * MS, False)], 65 * S)
        assert store.stats("a", 65 * S) is None
        assert set(store.all_stats(65 * S)) == {"b"}
        cumulative = store.cumulative("a", 65 * S)
        assert cumulative is not None and (cumulative.count, cumulative.errors) == (1, 1)
        assert {key: data.count for key, data in store.all_cumulative(65 * S).items()} == {
            "a": 1,
            "b": 1,
        }

    def test_stats_of_an_unchanged_window_are_reused(self) -> None:
        """Same window, same time: the same object; later time: only window_s moves."""
        store = store_with([("a", "server", MS, False)])
        first = store.stats("a", 1 * S)
        assert first is not None and store.stats("a", 1 * S) is first
        later = store.stats("a", 3 * S)
        assert later is not None and later._sketch is first._sketch
        assert (later.window_s, later.count) == (3.0, 1)
        store.add_batch([("a", "server", 2 * MS, True)], 3 * S)
        changed = store.stats("a", 3 * S)
        assert changed is not None and (changed.count, changed.errors) == (2, 1)

    def test_unknown_keys_read_as_none(self) -> None:
        """stats() and cumulative() of an unseen key return None."""
        store = KeyedWindows()
        assert store.stats("nope", 0) is None
        assert store.cumulative("nope", 0) is None

    def test_pop_closed_groups_closed_sub_windows_by_key(self) -> None:
        """Only keys with newly closed sub-windows appear."""
        store = store_with([("a", "server", MS, False)])
        store.add_batch([("b", "server", MS, False)], 15 * S)
        closed = store.pop_closed(15 * S)
        assert {key: len(items) for key, items in closed.items()} == {"a": 1}
        assert store.pop_closed(15 * S) == {}

    def test_window_s_comes_from_the_window(self) -> None:
        """OperationStats.window_s is the span the window covers."""
        store = KeyedWindows(window_ns=30 * S, sub_windows=3)
        store.add_batch([("a", "server", MS, False)], 2 * S)
        stats = store.stats("a", 12 * S)
        assert stats is not None and stats.window_s == 10.0
