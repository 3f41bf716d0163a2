"""The pure tail-sampling core: policy order, the trace book's bounds and its late spans."""

from __future__ import annotations

import pytest

from otelperf.budgets import INTERACTIVE_BUDGETS, Budget
from otelperf.processors._tail_policy import BUDGET, ERROR, SLOW, budget_threshold_ms, decide
from otelperf.processors._trace_book import TraceBook, Verdict

MS = 1_000_000
S = 1_000_000_000


def book(**overrides: int | None) -> TraceBook[str]:
    args: dict[str, int | None] = {
        "max_traces": 100,
        "max_spans_per_trace": 100,
        "max_spans": 10_000,
        "wait_ns": 30 * S,
        "floor_interval_ns": None,
    }
    args.update(overrides)
    return TraceBook(name_of=lambda span: span.split(":")[0], **args)  # type: ignore[arg-type]


def run_trace(
    b: TraceBook[str], trace_id: int, *, children: int = 2, flags: int = 0, now: int = 0
) -> list[Verdict[str]]:
    """Root starts, children end (the last with ``flags``), root ends; return the kept traces."""
    verdicts = b.root_started(trace_id, now)
    for i in range(children):
        reason, more = b.span_ended(
            trace_id, f"{trace_id}.c{i}", flags if i == children - 1 else 0, None, now
        )
        assert reason is None
        verdicts += more
    reason, more = b.span_ended(trace_id, f"{trace_id}.root", 0, ("GET /a", 5 * MS), now)
    assert reason is None
    return verdicts + more


def reason_of(kept: list[Verdict[str]]) -> str | None:
    """The reason of the one trace kept, or None when it was dropped."""
    return kept[0].reason if kept else None


class TestDecide:
    @pytest.mark.parametrize(
        ("flags", "duration_ms", "expected"),
        [
            (ERROR | SLOW | BUDGET, 500, "error"),
            (SLOW | BUDGET, 500, "slow"),
            (BUDGET, 500, "budget"),
            (0, 500, "outlier"),
            (0, 100, None),
            (0, 99, None),
        ],
    )
    def test_first_matching_reason_wins(
        self, flags: int, duration_ms: int, expected: str | None
    ) -> None:
        """error > slow > budget > outlier; a root at or under its p99 is no outlier."""
        roots = [("GET /a", duration_ms * MS)]
        got = decide(flags, roots, {"GET /a": 100 * MS}, since_kept_ns=0, floor_interval_ns=None)
        assert got == expected

    @pytest.mark.parametrize(
        ("since_kept_s", "expected"), [(None, "floor"), (59, None), (60, "floor"), (61, "floor")]
    )
    def test_floor_keeps_one_per_interval(self, since_kept_s: int | None, expected: str) -> None:
        """With nothing else matching, the floor keeps a trace once per interval."""
        since = None if since_kept_s is None else since_kept_s * S
        assert decide(0, [], {}, since_kept_ns=since, floor_interval_ns=60 * S) == expected

    def test_unknown_operation_is_no_outlier(self) -> None:
        """Without a p99 for the operation (too few samples), the outlier rule is silent."""
        assert decide(0, [("GET /b", 10**12)], {}, since_kept_ns=0, floor_interval_ns=None) is None


class TestBudgetThreshold:
    def test_interactive_preset_gives_its_p99_to_server_spans(self) -> None:
        """INTERACTIVE (p75<200ms, p99<1s): server spans are limited at 1 s, others not."""
        limit = budget_threshold_ms(INTERACTIVE_BUDGETS)
        assert limit("GET /users", "SERVER") == 1000.0
        assert limit("db.query", "client") is None

    def test_largest_tail_threshold_wins_and_p50_is_ignored(self) -> None:
        """The largest of p95/p99/p999/max/SLO thresholds; p50 and error_rate do not count."""
        budgets = (
            Budget.parse("GET /a p50<10ms"),
            Budget.parse("GET /a p95<100ms"),
            Budget.parse("GET /* p999<300ms"),
            Budget.parse("GET /a error_rate<1%"),
            Budget.parse("GET /a 99%<200ms over 30d"),
        )
        limit = budget_threshold_ms(budgets)
        assert limit("GET /a", "server") == 300.0
        assert limit("GET /b", "server") == 300.0
        assert budget_threshold_ms(budgets[:1])("GET /a", "server") is None


class TestTraceBook:
    def test_dropped_trace_at_root_end(self) -> None:
        """A plain trace is decided when its root ends: dropped, nothing buffered after."""
        b = book()
        assert run_trace(b, 1) == []
        assert (b.buffered_traces, b.buffered_spans) == (0, 0)
        assert b.decisions == {("sampled_out", False): 1}

    def test_error_child_keeps_the_whole_trace(self) -> None:
        """An error in any span keeps every span of the trace, root included."""
        b = book()
        [verdict] = run_trace(b, 1, children=3, flags=ERROR)
        assert verdict.reason == "error"
        assert sorted(verdict.spans) == ["1.c0", "1.c1", "1.c2", "1.root"]
        assert b.decisions == {("error", True): 1}

    def test_decision_waits_for_every_open_local_root(self) -> None:
        """Two local roots of one trace (fan-out into this process): decide after both end."""
        b = book()
        b.root_started(7, 0)
        b.root_started(7, 0)
        assert b.span_ended(7, "a", 0, ("GET /a", MS), 0) == (None, [])
        reason, [verdict] = b.span_ended(7, "b", ERROR, ("GET /b", MS), 0)
        assert reason is None
        assert (verdict.reason, sorted(verdict.spans)) == ("error", ["a", "b"])

    def test_late_spans_follow_the_decision(self) -> None:
        """After a keep, late spans are forwarded with its reason; after a drop they are counted."""
        b = book()
        run_trace(b, 1, flags=SLOW)
        assert b.span_ended(1, "late", 0, None, 0) == ("slow", [])
        run_trace(b, 2)
        assert b.span_ended(2, "late", ERROR, None, 0) == (None, [])
        assert b.dropped_spans == {"late": 1}
        assert b.root_started(1, 0) == []  # a kept trace needs no new buffer
        assert b.buffered_traces == 0

    def test_new_root_in_a_dropped_trace_decides_anew(self) -> None:
        """A later request of a dropped trace that fails is still kept."""
        b = book()
        run_trace(b, 1)
        [verdict] = run_trace(b, 1, flags=ERROR)
        assert verdict.reason == "error"

    def test_full_book_decides_the_oldest_early(self) -> None:
        """At max_traces a new trace pushes the oldest out (decided now, counted buffer_full)."""
        b = book(max_traces=3)
        for trace_id in range(3):
            b.root_started(trace_id, 0)
        b.span_ended(0, "err", ERROR, None, 0)
        verdicts = b.root_started(3, 0)
        assert [(v.trace_id, v.reason, v.spans) for v in verdicts] == [(0, "error", ["err"])]
        assert b.root_started(4, 0) == []  # trace 1 decided early and dropped
        assert b.buffered_traces == 3
        assert b.decisions == {("error", True): 1, ("buffer_full", False): 1}

    def test_spans_over_the_per_trace_cap_are_dropped_but_still_judged(self) -> None:
        """Spans past max_spans_per_trace are counted, their error still keeps the trace."""
        b = book(max_spans_per_trace=5)
        [verdict] = run_trace(b, 1, children=50, flags=ERROR)
        assert verdict.reason == "error"
        assert len(verdict.spans) == 6  # 5 children + the root, which is always kept
        assert b.dropped_spans == {"spans_per_trace": 45}

    def test_total_span_bound_decides_oldest_traces(self) -> None:
        """Past max_spans the oldest traces are decided early until the total fits."""
        b = book(max_spans=10)
        b.root_started(1, 0)
        b.root_started(2, 0)
        for i in range(6):
            b.span_ended(1, f"1.{i}", 0, None, 0)
        b.span_ended(1, "1.err", ERROR, None, 0)
        kept: list[Verdict[str]] = []
        for i in range(5):
            kept += b.span_ended(2, f"2.{i}", 0, None, 0)[1]
        assert [(v.trace_id, v.reason, len(v.spans)) for v in kept] == [(1, "error", 7)]
        assert b.buffered_spans == 5

    def test_waiting_trace_is_decided_without_its_root(self) -> None:
        """A root that never ends: after wait_ns the trace is decided on what ended."""
        b = book(wait_ns=30 * S)
        b.root_started(1, 0)
        b.span_ended(1, "slow child", SLOW, None, 1 * S)
        b.root_started(2, 10 * S)
        assert b.expire(29 * S) == []
        [verdict] = b.expire(30 * S)
        assert (verdict.trace_id, verdict.reason, verdict.spans) == (1, "slow", ["slow child"])
        assert b.expire(40 * S) == []
        assert b.buffered_traces == 0
        assert b.decisions == {("slow", True): 1, ("wait", False): 1}

    def test_close_decides_everything(self) -> None:
        """close() decides every buffered trace (cause shutdown)."""
        b = book()
        b.root_started(1, 0)
        b.root_started(2, 0)
        b.span_ended(2, "err", ERROR, None, 0)
        assert [(v.trace_id, v.spans) for v in b.close(0)] == [(2, ["err"])]
        assert b.buffered_traces == 0
        assert b.decisions == {("shutdown", False): 1, ("error", True): 1}

    def test_floor_keeps_the_first_and_then_one_per_interval(self) -> None:
        """floor_interval_ns: first trace of an operation kept, next only after the interval."""
        b = book(floor_interval_ns=60 * S)
        reasons = [reason_of(run_trace(b, i, now=t * S)) for i, t in enumerate([0, 30, 59, 61])]
        assert reasons == ["floor", None, None, "floor"]

    def test_head_kept_counts_and_feeds_the_floor(self) -> None:
        """A head-sampled trace counts as kept for its operation's floor."""
        b = book(floor_interval_ns=60 * S)
        b.head_kept("GET /a", 0)
        assert reason_of(run_trace(b, 1, now=10 * S)) is None
        assert b.decisions == {("head", True): 1, ("sampled_out", False): 1}

    def test_outlier_uses_the_p99_given(self) -> None:
        """A root slower than its operation's p99 is kept as an outlier."""
        b = book()
        b.p99_ns = {"GET /a": 4 * MS}
        assert reason_of(run_trace(b, 1)) == "outlier"  # the root lasts 5 ms
        b.p99_ns = {"GET /a": 5 * MS}
        assert reason_of(run_trace(b, 2)) is None

    def test_orphan_child_opens_a_buffer_named_after_it(self) -> None:
        """A span whose trace is unknown (no root start seen) waits for the root or the wait."""
        b = book(floor_interval_ns=60 * S)
        b.span_ended(1, "db:child", 0, None, 0)
        b.head_kept("db", 0)  # its trace is named after it: the floor for "db" is now used
        assert b.expire(30 * S) == []
        b.span_ended(2, "db.other:child", 0, None, 0)
        [verdict] = b.expire(60 * S)
        assert verdict.reason == "floor"

    def test_remembered_decisions_are_bounded(self) -> None:
        """Only the last max_traces decisions are remembered."""
        b = book(max_traces=2)
        for trace_id in range(5):
            run_trace(b, trace_id, flags=ERROR)
        assert b.span_ended(0, "late", 0, None, 0)[0] is None  # forgotten: a new buffer
        assert b.span_ended(4, "late", 0, None, 0)[0] == "error"

    def test_root_operations_are_followed_up_to_a_bound(self) -> None:
        """book.operations lists root operations (whose p99 to read), at most max_operations."""
        b: TraceBook[str] = TraceBook(
            max_traces=10,
            max_spans_per_trace=10,
            max_spans=100,
            wait_ns=S,
            floor_interval_ns=None,
            name_of=str,
            max_operations=2,
        )
        for i, name in enumerate(["GET /a", "GET /b", "GET /a", "GET /c"]):
            b.span_ended(i, "root", 0, (name, MS), 0)
        assert list(b.operations) == ["GET /a", "GET /b"]
