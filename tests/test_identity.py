"""Per-process identity: the process detector is listed, and a forked child reports its own pid."""

from __future__ import annotations

import json
import os
import sys

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from otelperf import _identity
from otelperf._identity import (
    DETECTORS_ENV,
    ensure_process_detector,
    process_resource,
    stale_identity,
    with_process_detector,
)


class TestWithProcessDetector:
    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ("", "process"),
            ("  ", "process"),
            ("azure_vm", "azure_vm,process"),
            ("azure_vm, ,host", "azure_vm,host,process"),
            ("process", "process"),
            (" process ,host", "process,host"),
            ("*", "*"),
            ("host,*", "host,*"),
        ],
    )
    def test_adds_process_once(self, given: str, expected: str) -> None:
        """The process detector is appended unless listed (or implied by '*')."""
        assert with_process_detector(given) == expected


class TestEnsureProcessDetector:
    def test_sets_the_variable_when_unset(self) -> None:
        """An unset variable becomes 'process'."""
        environ: dict[str, str] = {}
        assert ensure_process_detector(environ) is True
        assert environ == {DETECTORS_ENV: "process"}

    def test_blank_counts_as_unset(self) -> None:
        """A blank value is 'not set' (STYLE: an empty env var means unset)."""
        environ = {DETECTORS_ENV: " "}
        assert ensure_process_detector(environ) is True
        assert environ[DETECTORS_ENV] == "process"

    @pytest.mark.parametrize(("given", "listed"), [("host", False), ("host,process", True)])
    def test_a_user_choice_is_kept(self, given: str, listed: bool) -> None:
        """A value the user set is never rewritten; the result says whether process is in it."""
        environ = {DETECTORS_ENV: given}
        assert ensure_process_detector(environ) is listed
        assert environ == {DETECTORS_ENV: given}


class TestProcessResource:
    def test_carries_this_pid_and_an_instance_id(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The resource has process.pid of this process, a service.instance.id and the name."""
        monkeypatch.delenv(DETECTORS_ENV, raising=False)
        resource = process_resource({"service.name": "shop"})
        assert os.environ[DETECTORS_ENV] == "process"
        attributes = resource.attributes
        assert attributes["process.pid"] == os.getpid()
        assert attributes["service.name"] == "shop"
        assert isinstance(attributes["service.instance.id"], str)
        assert not stale_identity(attributes)

    def test_a_dict_environ_is_written_not_os_environ(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With environ given, os.environ is left alone."""
        monkeypatch.delenv(DETECTORS_ENV, raising=False)
        environ: dict[str, str] = {}
        process_resource({}, environ)
        assert environ == {DETECTORS_ENV: "process"}
        assert DETECTORS_ENV not in os.environ

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_forked_child_reports_its_own_pid_and_instance(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """After fork, providers built on process_resource carry the child's pid and instance."""
        monkeypatch.delenv(DETECTORS_ENV, raising=False)
        resource = process_resource({"service.name": "shop"})
        tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        reader = InMemoryMetricReader()
        meter_provider = MeterProvider(
            resource=resource, metric_readers=[reader], shutdown_on_exit=False
        )
        parent = (os.getpid(), resource.attributes["service.instance.id"])
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report what its providers carry, then leave at once
            os.close(read)
            try:
                span = tracer_provider.get_tracer("t").start_span("s")
                span.end()
                meter_provider.get_meter("m").create_counter("c").add(1)
                data = reader.get_metrics_data()
                assert data is not None
                report = {
                    "span": dict(span.resource.attributes),  # type: ignore[attr-defined]
                    "metric": dict(data.resource_metrics[0].resource.attributes),
                }
            except Exception as error:  # noqa: BLE001 - reported to the parent, not raised
                report = {"error": {"repr": repr(error)}}
            os.write(write, json.dumps(report).encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as pipe:
            report = json.loads(pipe.read())
        os.waitpid(pid, 0)
        tracer_provider.shutdown()
        meter_provider.shutdown()
        assert "error" not in report, report
        for attributes in report["span"], report["metric"]:
            assert attributes["process.pid"] == pid
            assert attributes["process.parent_pid"] == parent[0]
            assert attributes["service.instance.id"] != parent[1]
        assert report["span"]["service.instance.id"] == report["metric"]["service.instance.id"]

    def test_stale_identity_compares_with_the_given_pid(self) -> None:
        """A resource claiming another pid is stale; one claiming none is not."""
        assert stale_identity({"process.pid": 1}, pid=2)
        assert not stale_identity({"process.pid": 2}, pid=2)
        assert not stale_identity({}, pid=2)


def test_module_is_importable_without_side_effects() -> None:
    """Importing _identity reads and writes no environment variable."""
    assert _identity.IDENTITY_KEYS == ("process.pid", "service.instance.id")
    assert sys.modules["otelperf._identity"] is _identity
