"""The budget string grammar: exact parses, exact error messages, fuzzing, round trips."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otelperf._errors import ConfigError
from otelperf.budgets import (
    INTERACTIVE_BUDGETS,
    STRICT_BUDGETS,
    Budget,
    coerce_budgets,
    parse_budgets,
)

ORIGIN = "OTELPERF_BUDGETS"
DAY_S = 86400.0


def _b(selector: str, statistic: str, threshold: float, **options: object) -> Budget:
    return Budget(selector=selector, statistic=statistic, threshold=threshold, **options)  # type: ignore[arg-type]


VALID: list[tuple[str, Budget]] = [
    ("GET /users p99<250ms", _b("GET /users", "p99", 250.0)),
    ("db.* p95<50ms over 5m min 20", _b("db.*", "p95", 50.0, window_s=300.0)),
    ("kind=server error_rate<1%", _b("kind=server", "error_rate", 0.01)),
    (
        "POST /orders 99%<400ms over 30d",
        _b("POST /orders", "slo", 400.0, objective=0.99, window_s=30 * DAY_S),
    ),
    ("GET /users/{id} p99<250ms", _b("GET /users/{id}", "p99", 250.0)),
    ("GET /users/{id} p50 < 1.5s", _b("GET /users/{id}", "p50", 1500.0)),
    ("cache.get p999<250us", _b("cache.get", "p999", 0.25)),
    ("attr.http.route=/api/* p90<80ms", _b("attr.http.route=/api/*", "p90", 80.0)),
    ("kind=client max<2s", _b("kind=client", "max", 2000.0)),
    ("checkout avg<120.5ms", _b("checkout", "avg", 120.5)),
    ("batch error_rate<0.05", _b("batch", "error_rate", 0.05)),
    (
        "login 99.95%<1s over 7d",
        _b("login", "slo", 1000.0, objective=0.9995, window_s=7 * DAY_S),
    ),
    ("x p75<10ms over 90s", _b("x", "p75", 10.0, window_s=90.0)),
    ("x p75<10ms over 1.5h", _b("x", "p75", 10.0, window_s=5400.0)),
    (
        "x p95<100ms warning 0.8x error 1.2x critical 3x",
        _b("x", "p95", 100.0, warning_ratio=0.8, error_ratio=1.2, critical_ratio=3.0),
    ),
    (
        'x p95<100ms impact "users \\"wait\\" \\\\ here" owner team-payments',
        _b("x", "p95", 100.0, impact='users "wait" \\ here', owner="team-payments"),
    ),
    ("x p95<100ms impact slow", _b("x", "p95", 100.0, impact="slow")),
    ("GET p99 p99<1ms", _b("GET p99", "p99", 1.0)),
    ("  GET /a   p99<1ms  ", _b("GET /a", "p99", 1.0)),
    ("GET  /a p99<1ms", _b("GET  /a", "p99", 1.0)),
    ("p99<1ms p99<2ms", _b("p99<1ms", "p99", 2.0)),
    ("x p99<1ms min 5 over 10m", _b("x", "p99", 1.0, min_samples=5, window_s=600.0)),
    ("kind=producer p99<100ms min 100", _b("kind=producer", "p99", 100.0, min_samples=100)),
    ("GET /p9999 p99<1ms", _b("GET /p9999", "p99", 1.0)),
    ("x p99x p9999 p99<1ms", _b("x p99x p9999", "p99", 1.0)),
    ("q 99%<1ms min 50", _b("q", "slo", 1.0, objective=0.99, min_samples=50)),
]

STATISTIC_EXPECTED = (
    "a statistic (p50, p75, p90, p95, p99, p999, avg, max, error_rate) or an objective like 99%, "
    "followed by '<'"
)
OPTION_EXPECTED = "'over', 'min', 'warning', 'error', 'critical', 'impact' or 'owner'"
ONE_BUDGET = "one budget (';' and line breaks separate budgets)"
HUGE = "x p99<" + "9" * 400 + "ms"

INVALID: list[tuple[str, int, str]] = [
    ("", 1, "a budget like 'GET /users p99<250ms'"),
    ("   ", 4, "a budget like 'GET /users p99<250ms'"),
    ("GET /users p99<250", 19, "a unit (us, ms, s)"),
    ("GET /users", 11, STATISTIC_EXPECTED),
    ("GET /users P99<250ms", 21, STATISTIC_EXPECTED),
    ("p99<250ms", 1, "an operation name, kind=KIND or attr.KEY=VALUE first"),
    ("GET /users p99", 15, "'<' after 'p99'"),
    ("GET /users p99>250ms", 15, "'<' after 'p99'"),
    ("GET /users 99%<250ms over 99999999999d", 27, "a window of at most 366d"),
    ("GET /users 99%", 15, "'<' after '99%'"),
    ("GET /users p99<ms", 16, "a number"),
    ("GET /users p99<-5ms", 16, "a number"),
    ("x p99<.5ms", 7, "a number"),
    ("x p99 < ", 9, "a number"),
    ("GET /users p99<0ms", 16, "a threshold above 0"),
    ("GET /users p99<250m", 19, "a unit (us, ms, s)"),
    ("GET /users p99<250 ms", 19, "a unit (us, ms, s)"),
    ("x p99<1e3ms", 8, "a unit (us, ms, s)"),
    (HUGE, 7, "a smaller threshold"),
    ("kind=serverless p99<1ms", 6, "a span kind (server, client, internal, producer, consumer)"),
    ("kind=SERVER p99<1ms", 6, "a span kind (server, client, internal, producer, consumer)"),
    ("attr.=x p99<1ms", 6, "an attribute key after 'attr.'"),
    ("attr.route p99<1ms", 11, "'=' and a value after the attribute key"),
    ("attr.route= p99<1ms", 12, "a value after '='"),
    ("attr.a b=c p99<1ms", 7, "'=' right after the attribute key (keys have no spaces)"),
    ("x error_rate<5", 14, "a fraction at most 1 (or a percentage: 5%)"),
    ("x error_rate<150%", 14, "an error rate above 0% and at most 100%"),
    ("x error_rate<0%", 14, "an error rate above 0% and at most 100%"),
    ("x error_rate<1ms", 15, "'%' or nothing after an error rate (like 1% or 0.01)"),
    ("x 100%<1ms", 3, "an objective above 0% and below 100%"),
    ("x 0%<1ms", 3, "an objective above 0% and below 100%"),
    ("x p99<1ms over", 15, "a window like 5m or 30d"),
    ("x p99<1ms over 5", 17, "a window unit (s, m, h, d)"),
    ("x p99<1ms over 5w", 17, "a window unit (s, m, h, d)"),
    ("x p99<1ms over 0s", 16, "a window above 0"),
    ("x p99<1ms min", 14, "a whole number of samples like 20"),
    ("x p99<1ms min 2.5", 15, "a whole number of samples like 20"),
    ("x p99<1ms min 0", 15, "at least 1 sample"),
    ("x p99<1ms min 1234567890", 15, "at most 999999999 samples"),
    ("x p99<1ms warning 1.2", 22, "'x' after the ratio (like 1.5x)"),
    ("x p99<1ms warning x", 19, "a ratio like 1.5x"),
    ("x p99x<1ms", 11, STATISTIC_EXPECTED),
    ("x p99<1ms warning 0x", 19, "a ratio above 0"),
    ("x p99<1ms warning 2x", 19, "warning ratio <= error ratio (1.5x)"),
    ("x p99<1ms error 3x", 17, "error ratio <= critical ratio (2x)"),
    ("x p99<1ms critical 1x", 20, "critical ratio >= error ratio (1.5x)"),
    ("x p99<1ms error 1.2x warning 1.3x", 17, "error ratio >= warning ratio (1.3x)"),
    ("x 99%<1ms warning 2x", 11, "no severity ratio on an SLO (its burn rates set the severity)"),
    ("x p99<1ms min 5 min 6", 17, "at most one 'min'"),
    ("GET /a p99<250ms over 5m over 10m", 26, "at most one 'over'"),
    ("x p99<1ms bogus", 11, OPTION_EXPECTED),
    ('x p99<1ms impact "abc', 22, "a closing '\"'"),
    ('x p99<1ms impact "abc"def', 23, "a space after the closing '\"'"),
    ("x p99<1ms impact", 17, "text after 'impact'"),
    ("a;b p99<1ms", 2, ONE_BUDGET),
    ("x p99<1ms\nimpact y", 10, ONE_BUDGET),
]


def _message(text: str, column: int, expected: str, origin: str = ORIGIN) -> str:
    return f"{origin}: {text!r} at column {column}: expected {expected}"


class TestParseTable:
    @pytest.mark.parametrize(("text", "budget"), VALID)
    def test_valid_strings_parse_to_exact_budgets(self, text: str, budget: Budget) -> None:
        """Each valid string parses to exactly this budget."""
        assert Budget.parse(text, origin=ORIGIN) == budget

    @pytest.mark.parametrize(("text", "column", "expected"), INVALID)
    def test_invalid_strings_raise_exact_messages(
        self, text: str, column: int, expected: str
    ) -> None:
        """Each invalid string names origin, text, 1-based column and what was expected."""
        with pytest.raises(ConfigError) as caught:
            Budget.parse(text, origin=ORIGIN)
        assert str(caught.value) == _message(text, column, expected)

    def test_table_is_large_enough(self) -> None:
        """The table covers at least 40 valid and invalid strings."""
        assert len(VALID) + len(INVALID) >= 40

    def test_default_origin_is_budget_parse(self) -> None:
        """Without an origin the message starts with Budget.parse."""
        with pytest.raises(ConfigError, match=r"^Budget\.parse: 'x' at column 2: "):
            Budget.parse("x")


class TestCanonicalText:
    @pytest.mark.parametrize(
        ("text", "canonical"),
        [
            ("db.* p95<50ms over 5m min 20", "db.* p95<50ms over 5m"),
            ("GET /users/{id} p50 < 1.5s", "GET /users/{id} p50<1.5s"),
            ("x p99<1500ms", "x p99<1.5s"),
            ("x p99<0.5ms", "x p99<500us"),
            ("x p99<1ms over 1.5h", "x p99<1ms over 90m"),
            ("x p99<1ms over 48h", "x p99<1ms over 2d"),
            ("x p99<1ms over 0.5s", "x p99<1ms over 0.5s"),
            ("x error_rate<0.05", "x error_rate<5%"),
            ("x 99.9%<200ms over 30d", "x 99.9%<200ms over 30d"),
            ("x p99<1ms owner a impact b", "x p99<1ms impact b owner a"),
            ('x p99<1ms impact "two words"', 'x p99<1ms impact "two words"'),
            ("x p99<0.00001ms", "x p99<0.01us"),
        ],
    )
    def test_text_is_canonical(self, text: str, canonical: str) -> None:
        """``text`` writes numbers, units and options one canonical way."""
        assert Budget.parse(text).text == canonical

    @pytest.mark.parametrize(("text", "budget"), VALID)
    def test_canonical_text_parses_back_to_the_same_budget(self, text: str, budget: Budget) -> None:
        """``Budget.parse(b.text) == b`` for every valid table entry."""
        assert Budget.parse(budget.text) == Budget.parse(text) == budget


# --- fuzzing -----------------------------------------------------------------------------------

_PIECES = [
    "GET", "/users/{id}", "db.*", "kind=server", "kind=", "attr.http.route=/a", "attr.", "p99",
    "p999", "error_rate", "avg", "max", "99%", "99.9%", "<", "<=", ">", "250", "1.5", "0", "-1",
    "ms", "us", "s", "%", "x", "over", "5m", "30d", "1.5h", "min", "20", "warning", "error",
    "critical", "1.2x", "3x", "impact", "owner", '"', '"a b"', '\\"', "\\", ";", "\n", "\t", " ",
    "p99<250ms", "99%<400ms", "error_rate<1%", "9" * 30, "é", "\x00",
]  # fmt: skip

grammar_aware = st.lists(st.sampled_from(_PIECES), max_size=14).flatmap(
    lambda parts: st.sampled_from([" ".join(parts), "".join(parts)])
)
mutated = st.tuples(
    st.sampled_from([text for text, _ in VALID]),
    st.integers(min_value=0, max_value=60),
    st.text(max_size=3),
    st.integers(min_value=0, max_value=3),
).map(lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + t[3] :])


class TestFuzz:
    @settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.one_of(grammar_aware, mutated, st.text(max_size=40)))
    def test_parse_returns_a_budget_or_raises_config_error(self, text: str) -> None:
        """Any text parses to a round-tripping Budget or raises a ConfigError with a column."""
        try:
            budget = Budget.parse(text, origin=ORIGIN)
        except ConfigError as exc:
            prefix = f"{ORIGIN}: {text!r} at column "
            assert str(exc).startswith(prefix)
            column = int(str(exc)[len(prefix) :].split(":", 1)[0])
            assert 1 <= column <= len(text) + 1
        else:
            assert Budget.parse(budget.text) == budget

    @settings(max_examples=500, deadline=None)
    @given(
        statistic=st.sampled_from(["p50", "p95", "p999", "avg", "max", "error_rate", "slo"]),
        threshold=st.floats(min_value=1e-9, max_value=1e12, allow_subnormal=False),
        fraction=st.floats(min_value=1e-9, max_value=1.0, exclude_max=True),
        window_s=st.none() | st.floats(min_value=1e-3, max_value=366 * 86_400),
        min_samples=st.integers(min_value=1, max_value=10**9 - 1),
        impact=st.text(st.characters(exclude_characters=";\r\n"), max_size=8),
    )
    def test_any_valid_budget_round_trips_through_text(
        self,
        statistic: str,
        threshold: float,
        fraction: float,
        window_s: float | None,
        min_samples: int,
        impact: str,
    ) -> None:
        """``Budget.parse(b.text) == b`` for budgets built from arbitrary valid floats."""
        budget = Budget(
            selector="GET /x/{id}",
            statistic=statistic,
            threshold=fraction if statistic == "error_rate" else threshold,
            objective=fraction if statistic == "slo" else None,
            window_s=window_s,
            min_samples=min_samples,
            impact=impact,
        )
        assert Budget.parse(budget.text) == budget


class TestParseBudgets:
    def test_splits_on_semicolons_and_line_breaks(self) -> None:
        """Budgets are separated by ';' or line breaks; empty pieces are ignored."""
        budgets = parse_budgets("a p99<1ms;\n b p50<2ms ;; \r\n", origin=ORIGIN)
        assert [b.text for b in budgets] == ["a p99<1ms", "b p50<2ms"]

    def test_expands_preset_names_case_insensitively(self) -> None:
        """A preset name expands to its budgets, in place."""
        budgets = parse_budgets("Interactive; GET /users p99<250ms", origin=ORIGIN)
        assert budgets == (*INTERACTIVE_BUDGETS, Budget.parse("GET /users p99<250ms"))

    def test_removes_exact_duplicates(self) -> None:
        """The same budget twice (e.g. two presets sharing one) is kept once."""
        assert parse_budgets("a p99<1ms; a  p99 < 1ms", origin=ORIGIN) == (
            Budget.parse("a p99<1ms"),
        )

    def test_error_names_the_offending_piece(self) -> None:
        """The message shows the bad piece (stripped) and a column within it."""
        with pytest.raises(ConfigError) as caught:
            parse_budgets("interactive;  GET /users p99<250", origin=ORIGIN)
        assert str(caught.value) == _message("GET /users p99<250", 19, "a unit (us, ms, s)")

    def test_empty_text_means_no_budgets(self) -> None:
        """An empty or blank value is no budgets."""
        assert parse_budgets(" ; ", origin=ORIGIN) == ()


class TestCoerceBudgets:
    def test_mixes_budgets_strings_and_presets(self) -> None:
        """A list may mix Budget objects, budget strings and preset names."""
        budgets = coerce_budgets(
            [*INTERACTIVE_BUDGETS, "GET /users p99<250ms", "strict"],
            origin="configure(budgets=...)",
        )
        assert budgets == (
            *INTERACTIVE_BUDGETS,
            Budget.parse("GET /users p99<250ms"),
            *(b for b in STRICT_BUDGETS if b not in INTERACTIVE_BUDGETS),
        )

    def test_flattens_a_nested_preset_tuple(self) -> None:
        """A preset tuple passed as one item is flattened."""
        assert coerce_budgets([INTERACTIVE_BUDGETS], origin="o") == INTERACTIVE_BUDGETS

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (None, ()),
            (Budget.parse("a p99<1ms"), (Budget.parse("a p99<1ms"),)),
            ("a p99<1ms", (Budget.parse("a p99<1ms"),)),
            ((), ()),
        ],
    )
    def test_accepts_single_values(self, value: object, expected: tuple[Budget, ...]) -> None:
        """None, one Budget, one string and an empty list are accepted."""
        assert coerce_budgets(value, origin="o") == expected

    @pytest.mark.parametrize(
        ("value", "shown"),
        [
            (42, "o=42"),
            (b"x", "o=b'x'"),
            ({"a": 1}, "o={'a': 1}"),
            (["a p99<1ms", 3.5], "o[1]=3.5"),
        ],
    )
    def test_rejects_other_types(self, value: object, shown: str) -> None:
        """Other types raise a ConfigError naming the item's position."""
        with pytest.raises(ConfigError) as caught:
            coerce_budgets(value, origin="o")
        expected = "expected a Budget, a budget string, a preset name or a list of them"
        assert str(caught.value) == f"{shown}: {expected}"

    def test_string_items_report_their_index_as_origin(self) -> None:
        """A bad string inside a list is reported with origin[index]."""
        with pytest.raises(ConfigError) as caught:
            coerce_budgets(["a p99<1ms", "b p99"], origin="configure(budgets=...)")
        assert str(caught.value) == _message(
            "b p99", 6, "'<' after 'p99'", origin="configure(budgets=...)[1]"
        )
