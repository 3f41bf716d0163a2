"""otelperf beside other providers: the post_instrument hook, and real Logfire."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from otelperf import _configure, _safety
from otelperf._distro import post_instrument
from tests.test_configure import _LogfireLikeProxy

pytestmark = pytest.mark.usefixtures("fresh_globals")


@pytest.fixture(autouse=True)
def fresh_log_limits() -> None:
    """otelperf's logger drops a repeat for a minute: each test starts with none remembered."""
    _safety._rate_limit._last_ns.clear()


class TestPostInstrument:
    @pytest.mark.parametrize("value", ["*", "flask, * ", "otelperf", " requests ,otelperf"])
    def test_disabled_instrumentations_opt_out_like_upstream(
        self, monkeypatch: pytest.MonkeyPatch, value: str
    ) -> None:
        """OTEL_PYTHON_DISABLED_INSTRUMENTATIONS with otelperf or '*' (upstream: all): no attach."""
        monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", value)
        theirs = TracerProvider(shutdown_on_exit=False)
        trace.set_tracer_provider(theirs)
        post_instrument()
        assert _configure.current() is None
        theirs.shutdown()

    def test_other_disabled_instrumentations_still_attach(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Disabling other instrumentations (no '*') leaves otelperf's hook on."""
        monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "flask,requests")
        monkeypatch.setenv("OTELPERF_EXPORTERS", "none")
        theirs = TracerProvider(shutdown_on_exit=False)
        trace.set_tracer_provider(theirs)
        post_instrument()
        handle = _configure.current()
        assert handle is not None and handle.attached
        theirs.shutdown()

    def test_attaches_to_a_proxy_provider_like_logfires(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The hook attaches to any provider taking span processors, not only the SDK's."""
        monkeypatch.setenv("OTELPERF_EXPORTERS", "none")
        inner = TracerProvider(shutdown_on_exit=False)
        trace.set_tracer_provider(_LogfireLikeProxy(inner))
        post_instrument()
        handle = _configure.current()
        assert handle is not None and handle.attached
        inner.shutdown()

    def test_nothing_installed_leaves_otelperf_out(self) -> None:
        """No provider installed by another distro: the hook does nothing (otelperf not chosen)."""
        post_instrument()
        assert _configure.current() is None
        assert not isinstance(trace.get_tracer_provider(), TracerProvider)

    def test_a_provider_taking_no_processors_is_one_warning(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Another distro installed a provider otelperf cannot use: one WARNING, no exception."""
        trace.set_tracer_provider(trace.NoOpTracerProvider())
        with caplog.at_level(logging.WARNING, logger="otelperf"):
            post_instrument()
        [line] = [r.getMessage() for r in caplog.records if r.name == "otelperf"]
        assert line.startswith("otelperf is not active")


# Runs in its own interpreter: logfire.configure() sets OpenTelemetry's global providers once
# per process and remembers it did, so a test process cannot reset it.
_LOGFIRE_APP = textwrap.dedent(
    """
    import json, logging
    import logfire
    from opentelemetry import trace

    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logging.getLogger("otelperf").addHandler(handler)
    logging.getLogger("otelperf").setLevel(logging.INFO)

    logfire.configure(
        send_to_logfire=False, console=False, service_name="lf-app", inspect_arguments=False
    )
    import otelperf

    handle = otelperf.configure(exporters="none", memory_interval_s="off")
    for _ in range(4):
        with logfire.span("checkout"):
            pass
    with trace.get_tracer("app").start_as_current_span("GET /users"):
        pass
    handle.aggregator.flush()
    print(json.dumps({
        "provider": type(trace.get_tracer_provider()).__qualname__,
        "attached": handle.attached,
        "counts": {name: s.count for name, s in otelperf.stats().items()},
        "lines": lines,
    }))
    otelperf.shutdown(timeout_s=2)
    """
)


def test_real_logfire_without_sending_is_attached_and_measured() -> None:
    """logfire.configure(send_to_logfire=False) then otelperf.configure(): spans are measured."""
    pytest.importorskip("logfire")
    done = subprocess.run(
        [sys.executable, "-c", _LOGFIRE_APP],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),  # conftest removed OTEL_*/OTELPERF_* and set raise-errors
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["provider"] == "ProxyTracerProvider"
    assert report["attached"] is True
    assert report["counts"] == {"checkout": 4, "GET /users": 1}
    [line] = report["lines"]
    assert line.startswith(
        "otelperf: attached to the TracerProvider already installed "
        "(logfire._internal.tracer.ProxyTracerProvider); kept its sampler (not visible"
    )
    assert "Traceback" not in done.stderr
