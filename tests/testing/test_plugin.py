"""The pytest plugin, run for real: inner test files in pytest subprocesses.

Each inner session is a fresh process, so OpenTelemetry's set-once globals and the plugin's
state start clean, exactly as in a user's CI run. The main inner session (real Flask app over
loopback HTTP, marker, messages) runs once per module and loads the plugin through a
``pytest11`` entry point; the global-state sessions use ``pytester`` with ``-p``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from textwrap import dedent

import pytest

pytest_plugins = ["pytester"]

PLUGIN = "otelperf.testing.plugin"

# A real Flask app, instrumented by opentelemetry-instrumentation-flask (global tracer
# provider), served over loopback HTTP by werkzeug on a thread of the inner session.
APP_CONFTEST = """
    import logging
    import threading
    import time
    import urllib.request

    import pytest
    from flask import Flask, request
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from werkzeug.serving import make_server


    def create_app():
        app = Flask("shop")

        @app.get("/users")
        def users():
            time.sleep(float(request.args.get("delay_ms", "0")) / 1000)
            return "[]"

        FlaskInstrumentor().instrument_app(app)
        return app


    @pytest.fixture(scope="session")
    def base_url():
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        server = make_server("127.0.0.1", 0, create_app(), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_port}"
        server.shutdown()
        thread.join(5)


    @pytest.fixture
    def get(base_url):
        def get(path, times=1):
            for _ in range(times):
                with urllib.request.urlopen(base_url + path, timeout=10) as response:
                    response.read()
        return get
"""


TEST_USERS = """
    def test_fast_route(get, assert_budget):
        get("/users", times=20)
        assert_budget("GET /users p95<50ms")

    def test_slow_route(get, assert_budget):
        get("/users?delay_ms=60", times=20)
        assert_budget("GET /users p95<50ms")
"""

TEST_MARKED = """
    import pytest

    @pytest.fixture
    def warmed_up(get):
        get("/users?delay_ms=80", times=3)  # slow warm-up, before the test body

    @pytest.mark.otelperf_budget("GET /users p95<50ms")
    def test_fast_after_slow_warm_up(warmed_up, get):
        get("/users", times=20)

    @pytest.mark.otelperf_budget("GET /users p95<50ms min 5")
    def test_marked_slow(get):
        get("/users?delay_ms=60", times=5)

    @pytest.mark.otelperf_budget("GET /users p95<50ms")
    def test_body_fails_first(get):
        assert 1 == 2

    @pytest.mark.otelperf_budget("GET /users p95<<50ms")
    def test_bad_budget():
        pass

    @pytest.mark.otelperf_budget("GET /users max<1s min 2")
    class TestClassMarker:
        def test_applies_to_methods(self, get):
            get("/users", times=2)
"""

TEST_BUDGETS = """
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    tracer = trace.get_tracer("app")

    def work(name, n=20, kind=SpanKind.INTERNAL, error=False, **attributes):
        for _ in range(n):
            with tracer.start_as_current_span(name, kind=kind, attributes=attributes) as span:
                if error:
                    span.set_status(Status(StatusCode.ERROR))

    def test_kind_attr_slo_and_error_rate(assert_budget):
        work("GET /users", kind=SpanKind.SERVER, **{"http.route": "/users"})
        work("SELECT users", kind=SpanKind.CLIENT)
        checks = assert_budget(
            "kind=server p99<1s",
            "attr.http.route=/users max<1s",
            "kind=client 99%<1s",
            "kind=server error_rate<1%",
        )
        assert [c.matched for c in checks] == [20, 20, 20, 20]

    def test_error_rate(assert_budget):
        work("charge", n=18)
        work("charge", n=2, error=True)
        assert_budget("charge error_rate<5%")

    def test_no_match(assert_budget):
        work("GET /users", n=3, kind=SpanKind.SERVER)
        assert_budget("GET /user p95<50ms", wait_s=0)

    def test_min_not_met(assert_budget):
        work("GET /users", n=3)
        assert_budget("GET /users p95<50ms", wait_s=0)

    def test_bad_budget(assert_budget):
        assert_budget("GET /users p95<50")

    def test_nothing_recorded(assert_budget):
        assert_budget("GET /users p95<50ms", wait_s=0)
"""


def plugin_args() -> list[str]:
    """Load the plugin with -p until the pytest11 entry point is installed (then it autoloads)."""
    installed = any(ep.value == PLUGIN for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", PLUGIN]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        *plugin_args(), "-p", "no:cacheprovider", "-rA", *args, timeout=120
    )


@dataclass(frozen=True)
class Inner:
    """The output of the main inner session."""

    lines: pytest.LineMatcher
    text: str
    outcomes: dict[str, int]

    def section(self, test: str) -> str:
        """The FAILURES/ERRORS section of one inner test (up to the next section)."""
        match = re.search(
            rf"^_+ (?:ERROR at setup of )?{test} _+$(.*?)(?=^_{{3,}} |^=+ )",
            self.text,
            re.MULTILINE | re.DOTALL,
        )
        assert match is not None, f"no section for {test}"
        return match.group(1)


@pytest.fixture(scope="module")
def inner(tmp_path_factory: pytest.TempPathFactory) -> Inner:
    """Run the Flask, marker and message test files once, the plugin loaded by entry point."""
    root = tmp_path_factory.mktemp("inner")
    for name, source in [
        ("conftest.py", APP_CONFTEST),
        ("test_users.py", TEST_USERS),
        ("test_marked.py", TEST_MARKED),
        ("test_budgets.py", TEST_BUDGETS),
    ]:
        (root / name).write_text(dedent(source))
    site = entry_point_site(root / "site")
    path = os.pathsep.join([site, os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path, COLUMNS="400")  # summary lines untruncated
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "--strict-markers",
         "-o", "console_output_style=classic", "--color=no", "-W", "ignore::DeprecationWarning"],
        cwd=root, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    lines = completed.stdout.splitlines()
    return Inner(
        pytest.LineMatcher(lines), completed.stdout, pytest.RunResult.parse_summary_nouns(lines)
    )


def entry_point_site(site: Path) -> str:
    """A directory with a distribution declaring the plugin as a pytest11 entry point."""
    dist = site / "otelperf_plugin_probe-0.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: otelperf-plugin-probe\n")
    (dist / "entry_points.txt").write_text(f"[pytest11]\notelperf = {PLUGIN}\n")
    return str(site)


class TestInnerSession:
    def test_outcomes_with_the_plugin_loaded_by_its_entry_point(self, inner: Inner) -> None:
        """Loaded by the pytest11 entry point (no -p), every inner test ends as intended."""
        assert inner.outcomes == {"passed": 4, "failed": 8, "errors": 1}, inner.text
        inner.lines.fnmatch_lines(
            [
                "PASSED test_budgets.py::test_kind_attr_slo_and_error_rate",
                "PASSED test_marked.py::test_fast_after_slow_warm_up",
                "PASSED test_marked.py::TestClassMarker::test_applies_to_methods",
                "PASSED test_users.py::test_fast_route",
                "ERROR test_marked.py::test_bad_budget - Failed: @pytest.mark.otelperf_budget*",
                "FAILED test_budgets.py::test_error_rate - *BudgetFailed*",
                "FAILED test_budgets.py::test_no_match - *BudgetFailed*",
                "FAILED test_budgets.py::test_min_not_met - *BudgetFailed*",
                "FAILED test_budgets.py::test_bad_budget - *ConfigError*",
                "FAILED test_budgets.py::test_nothing_recorded - *BudgetFailed*",
                "FAILED test_marked.py::test_marked_slow - Failed: GET /users p95<50ms min 5 *",
                "FAILED test_marked.py::test_body_fails_first - assert 1 == 2",
                "FAILED test_users.py::test_slow_route - *BudgetFailed: GET /users p95<50ms *",
            ]
        )

    def test_slow_route_fails_with_a_readable_message(self, inner: Inner) -> None:
        """A deliberately slow Flask route fails with the p95, count, percentiles and ratio."""
        section = inner.section("test_slow_route")
        pytest.LineMatcher(section.splitlines()).fnmatch_lines(
            [
                '>       assert_budget("GET /users p95<50ms")',
                "E   *BudgetFailed: GET /users p95<50ms failed: p95 = * ms over 20 spans "
                "(p50 *, p99 *, max * ms): *x the threshold (*)",
                "E * operation * kind * spans * errors * p50 ms * p90 ms * p95 ms * p99 ms * "
                "max ms * verdict",
                "E * GET /users * server * 20 * 0 *",
                "E * slowest: * ms (trace ????????????????????????????????), *",
            ]
        )
        p95 = re.search(r"p95 = ([\d.]+) ms", section)
        assert p95 is not None and 60 <= float(p95.group(1)) < 1000  # the real 60 ms sleep

    def test_marker_judges_the_test_body_only(self, inner: Inner) -> None:
        """The marker ignores slow fixture setup, fails a slow body, leaves body errors alone."""
        pytest.LineMatcher(inner.section("test_bad_budget").splitlines()).fnmatch_lines(
            [
                "@pytest.mark.otelperf_budget: 'GET /users p95<<50ms' at column 16: expected a "
                "number",
            ]
        )
        pytest.LineMatcher(inner.section("test_marked_slow").splitlines()).fnmatch_lines(
            [
                "GET /users p95<50ms min 5 failed: p95 = * ms over 5 spans (p50 *, p99 *, "
                "max * ms): *x the threshold (*)",
                "  operation * kind * spans * verdict",
                "  GET /users * server * 5 * 0 *",
            ]
        )
        body = inner.section("test_body_fails_first")
        assert "assert 1 == 2" in body and "GET /users p95<50ms:" not in body
        assert "During handling of the above exception" not in inner.text

    def test_no_match_min_error_rate_and_usage_errors(self, inner: Inner) -> None:
        """No match lists what was seen; min and error rate explain; bad text names a column."""
        inner.lines.fnmatch_lines(
            [
                "E   *BudgetFailed: charge error_rate<5% failed: error_rate = 10% (2 of 20 spans "
                "had an ERROR status): 2.00x the threshold (critical)",
                "E   *BudgetFailed: GET /user p95<50ms: no span matched the selector 'GET /user' "
                "(span name, case-sensitive) among the 3 spans that ended; did you mean "
                "'GET /users'?",
                "E * operations seen: 'GET /users' (server, 3)",
                "E   *BudgetFailed: GET /users p95<50ms: not enough spans to judge: 'GET /users' "
                "has 3; the budget needs min 20 per operation; produce more, or judge fewer "
                "with 'GET /users p95<50ms min 3'",
                '>       assert_budget("GET /users p95<50")',
                "E   *otelperf._errors.ConfigError: assert_budget: 'GET /users p95<50' at column "
                "18: expected a unit (us, ms, s)*",
                "E   *BudgetFailed: GET /users p95<50ms: no span ended while recording; is the "
                "code under test instrumented*",
            ]
        )


class TestGlobalState:
    def test_configure_in_a_test_is_undone_before_the_next(self, pytester: pytest.Pytester) -> None:
        """otelperf.configure() inside a test works, and the next test can configure afresh."""
        pytester.makepyfile(
            test_configure="""
            import warnings

            import otelperf
            from opentelemetry import trace

            def configure_and_measure(otelperf_spans):
                with warnings.catch_warnings():
                    warnings.simplefilter("error")  # "already called" would be an error
                    handle = otelperf.configure(exporters="none", regression_factor="off")
                for _ in range(5):
                    with trace.get_tracer("app").start_as_current_span("op"):
                        pass
                handle.aggregator.flush()
                assert otelperf.stats("op").count == 5  # only this test's spans
                assert otelperf_spans.names() == ["op"] * 5
                otelperf_spans.assert_budget("op p99<1s min 5")

            def test_first(otelperf_spans):
                configure_and_measure(otelperf_spans)

            def test_second(otelperf_spans):
                configure_and_measure(otelperf_spans)

            def test_nothing_left_behind():
                assert otelperf.stats() == {}
            """
        )
        run(pytester).assert_outcomes(passed=3)

    def test_configure_at_import_is_recorded_and_kept(self, pytester: pytest.Pytester) -> None:
        """With otelperf configured at import, its provider feeds the recordings, every test."""
        pytester.makeconftest(
            """
            import otelperf

            HANDLE = otelperf.configure(exporters="none", regression_factor="off")
            """
        )
        pytester.makepyfile(
            test_imported="""
            import pytest
            import otelperf
            from opentelemetry import trace
            from conftest import HANDLE

            @pytest.mark.parametrize("run", [1, 2])
            def test_recorded(otelperf_spans, assert_budget, run):
                for _ in range(3):
                    with trace.get_tracer("app").start_as_current_span("op"):
                        pass
                assert trace.get_tracer_provider() is HANDLE.tracer_provider
                assert otelperf_spans.names() == ["op"] * 3
                assert_budget("op max<1s min 3")
                HANDLE.aggregator.flush()
                assert otelperf.stats("op").count == 3 * run  # the handle lives on
            """
        )
        run(pytester).assert_outcomes(passed=2)
