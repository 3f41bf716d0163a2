"""Shared fixtures: a clean environment per test, fresh OTel globals, a real OTLP receiver."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
from opentelemetry.test.globals_test import reset_metrics_globals, reset_trace_globals

from otelperf import _configure
from otelperf._receiver import OTLPReceiver


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove OTELPERF_*/OTEL_* variables so the developer's shell cannot change results."""
    for name in list(os.environ):
        if name.startswith(("OTELPERF_", "OTEL_")):
            monkeypatch.delenv(name)
    # Bugs in our hooks must fail tests instead of being logged and swallowed.
    monkeypatch.setenv("OTELPERF_RAISE_INTERNAL_ERRORS", "1")


@pytest.fixture
def fresh_globals() -> Iterator[None]:
    """Let a test call otelperf.configure(): reset OTel's set-once globals before and after."""
    reset_trace_globals()
    reset_metrics_globals()
    _configure._handle = None
    sigterm = signal.getsignal(signal.SIGTERM)  # configure() may install its flush handler
    yield
    handle = _configure._handle
    if handle is not None:
        handle.shutdown(timeout_s=5)
    _configure._handle = None
    signal.signal(signal.SIGTERM, sigterm)
    reset_trace_globals()
    reset_metrics_globals()


@pytest.fixture
def otlp_receiver() -> Iterator[OTLPReceiver]:
    """A real OTLP receiver (gRPC and HTTP/protobuf) on 127.0.0.1, ephemeral ports."""
    with OTLPReceiver() as receiver:
        yield receiver
