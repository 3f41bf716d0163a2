"""otelperf's real OTLP output reaches a receiver on the ports the shipped collector config uses."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from opentelemetry import trace

import otelperf
from otelperf._receiver import OTLPReceiver
from otelperf._receiver.records import Transport
from otelperf.cli._collector.metric_names import EXPORTED_METRICS

CONFIG = Path(__file__).parents[2] / "collector-config" / "otelcol.yaml"

pytestmark = pytest.mark.usefixtures("fresh_globals")


def collector_ports() -> dict[str, int]:
    """The OTLP receiver ports of the shipped collector config, by protocol."""
    protocols = yaml.safe_load(CONFIG.read_text())["receivers"]["otlp"]["protocols"]
    return {name: int(spec["endpoint"].rsplit(":", 1)[1]) for name, spec in protocols.items()}


def free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture
def collector_stand_in() -> Iterator[OTLPReceiver]:
    """A receiver listening where the collector would: the config's gRPC and HTTP ports."""
    ports = collector_ports()
    if not all(free(port) for port in ports.values()):
        pytest.skip(f"collector ports {sorted(ports.values())} are in use on this machine")
    with OTLPReceiver(grpc_port=ports["grpc"], http_port=ports["http"]) as receiver:
        yield receiver


class TestCollectorWire:
    def test_config_uses_the_standard_otlp_ports(self) -> None:
        """The shipped config listens on the OTLP defaults the SDK exporters use unconfigured."""
        assert collector_ports() == {"grpc": 4317, "http": 4318}

    @pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
    def test_default_exporters_reach_the_collector_ports(
        self,
        monkeypatch: pytest.MonkeyPatch,
        collector_stand_in: OTLPReceiver,
        protocol: str,
    ) -> None:
        """With no endpoint set, spans and otelperf metrics arrive on the config's port."""
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
        otelperf.configure(service_name="wire-test")
        with trace.get_tracer("t").start_as_current_span("GET /wire"):
            pass
        otelperf.shutdown()
        transport: Transport = "grpc" if protocol == "grpc" else "http"
        assert [s.name for s in collector_stand_in.spans(transport=transport)] == ["GET /wire"]
        names = {p.name for p in collector_stand_in.metrics(transport=transport)}
        assert "otelperf.operation.duration" in names
        # Every metric otelperf sent is one the dashboard/metric table knows, with its unit.
        known = {m.otel_name: m.unit for m in EXPORTED_METRICS}
        for point in collector_stand_in.metrics(transport=transport):
            assert point.name in known, point.name
            assert point.unit == known[point.name], point.name
