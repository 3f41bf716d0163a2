"""Real apps under ``opentelemetry-instrument --distro otelperf``: spans reach a real receiver."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from otelperf._receiver import OTLPReceiver
from tests.e2e.harness import BIN, free_port, instrument, run_app, telemetry_env

pytestmark = pytest.mark.e2e

PROTOCOLS = {"grpc": "grpc_endpoint", "http/protobuf": "http_endpoint"}


def flask_command(port: int) -> list[str]:
    return instrument(sys.executable, "flask_app.py", str(port))


def fastapi_command(port: int) -> list[str]:
    return instrument(
        str(BIN / "uvicorn"), "fastapi_app:app", "--host", "127.0.0.1", "--port", str(port)
    )


class TestFlask:
    @pytest.mark.parametrize("protocol", PROTOCOLS)
    def test_server_spans_with_http_route_reach_the_receiver(
        self, otlp_receiver: OTLPReceiver, protocol: str
    ) -> None:
        """Flask server spans arrive over gRPC and HTTP with semconv route attributes."""
        port = free_port()
        env = telemetry_env(getattr(otlp_receiver, PROTOCOLS[protocol]), protocol)
        with run_app(flask_command(port), port, env) as app:
            assert app.get("/users/1").json() == {"id": 1, "name": "ada"}
            assert app.get("/users/9").status_code == 404
            # Both requests' spans, not just the first: the BSP may export them in two batches.
            assert otlp_receiver.wait_for(
                lambda: len(otlp_receiver.spans(name="GET /users/<int:user_id>")) >= 2,
                timeout_s=15,
            ), app.output
        spans = otlp_receiver.spans(name="GET /users/<int:user_id>")
        assert len(spans) == 2
        assert {s.kind for s in spans} == {"SERVER"}
        assert {s.attributes["http.route"] for s in spans} == {"/users/<int:user_id>"}
        assert {s.resource_attributes["service.name"] for s in spans} == {"e2e-app"}
        assert {s.transport for s in spans} == {protocol.split("/")[0]}
        assert "Traceback" not in app.output

    def test_otel_python_distro_variable_takes_the_same_path(
        self, otlp_receiver: OTLPReceiver
    ) -> None:
        """OTEL_PYTHON_DISTRO=otelperf (no --distro flag) configures otelperf the same way."""
        port = free_port()
        env = telemetry_env(otlp_receiver.grpc_endpoint, "grpc", OTEL_PYTHON_DISTRO="otelperf")
        command = [str(BIN / "opentelemetry-instrument"), sys.executable, "flask_app.py", str(port)]
        with run_app(command, port, env) as app:
            app.get("/users")
            assert otlp_receiver.wait_for(
                lambda: "GET /users" in {s.name for s in otlp_receiver.spans()}, timeout_s=15
            ), app.output

    def test_bad_otelperf_variable_logs_one_error_and_the_app_serves(
        self, otlp_receiver: OTLPReceiver
    ) -> None:
        """A bad OTELPERF_* value: one ERROR line naming it, no traceback, requests served."""
        port = free_port()
        env = telemetry_env(otlp_receiver.grpc_endpoint, "grpc", OTELPERF_SAMPLE_RATIO="abc")
        with run_app(flask_command(port), port, env) as app:
            for _ in range(5):
                assert app.get("/users").json() == ["ada", "grace"]
        errors = [line for line in app.output.splitlines() if "otelperf disabled" in line]
        assert errors == [
            "otelperf disabled: OTELPERF_SAMPLE_RATIO='abc': expected a number between 0 and 1"
        ]
        assert "Traceback" not in app.output


class TestFastAPI:
    @pytest.mark.parametrize("protocol", PROTOCOLS)
    def test_uvicorn_server_spans_reach_the_receiver(
        self, otlp_receiver: OTLPReceiver, protocol: str
    ) -> None:
        """FastAPI under uvicorn: server spans with http.route arrive over gRPC and HTTP."""
        port = free_port()
        env = telemetry_env(getattr(otlp_receiver, PROTOCOLS[protocol]), protocol)
        with run_app(fastapi_command(port), port, env) as app:
            assert app.get("/items/2").json() == {"id": 2, "name": "pen"}
            assert otlp_receiver.wait_for(
                lambda: "GET /items/{item_id}" in {s.name for s in otlp_receiver.spans()},
                timeout_s=15,
            ), app.output
        spans = [s for s in otlp_receiver.spans() if s.name == "GET /items/{item_id}"]
        assert {s.attributes["http.route"] for s in spans} == {"/items/{item_id}"}
        assert {s.kind for s in spans} == {"SERVER"}
        assert {s.resource_attributes["service.name"] for s in spans} == {"e2e-app"}
        assert {s.transport for s in spans} == {protocol.split("/")[0]}
        assert "Traceback" not in app.output


class TestBesideAnotherDistro:
    def test_upstream_distro_plus_otelperf_attaches_through_post_instrument(
        self, otlp_receiver: OTLPReceiver
    ) -> None:
        """--distro distro (upstream) builds the providers; otelperf attaches and measures."""
        port = free_port()
        env = telemetry_env(otlp_receiver.grpc_endpoint, "grpc")
        command = [
            str(BIN / "opentelemetry-instrument"),
            "--distro",
            "distro",
            "--configurator",
            "configurator",
            sys.executable,
            "flask_app.py",
            str(port),
        ]
        with run_app(command, port, env) as app:
            for _ in range(3):
                app.get("/users")
            assert otlp_receiver.wait_for(
                lambda: any(
                    p.attributes.get("operation") == "GET /users" and p.count == 3
                    for p in otlp_receiver.metrics(name="otelperf.operation.duration")
                ),
                timeout_s=15,
            ), app.output
        # The upstream pipeline still exports the spans, exactly once each (not duplicated).
        spans = [s for s in otlp_receiver.spans() if s.name == "GET /users"]
        assert len(spans) == 3
        assert "Traceback" not in app.output

    def test_opting_out_of_the_hook(self, otlp_receiver: OTLPReceiver) -> None:
        """OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=otelperf: the upstream distro runs alone."""
        port = free_port()
        env = telemetry_env(
            otlp_receiver.grpc_endpoint,
            "grpc",
            OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="otelperf",
            OTEL_PYTHON_DISTRO="distro",
            OTEL_PYTHON_CONFIGURATOR="configurator",
        )
        command = [str(BIN / "opentelemetry-instrument"), sys.executable, "flask_app.py", str(port)]
        with run_app(command, port, env) as app:
            app.get("/users")
            assert otlp_receiver.wait_for(
                lambda: "GET /users" in {s.name for s in otlp_receiver.spans()}, timeout_s=15
            ), app.output
            otlp_receiver.wait_for(lambda: bool(otlp_receiver.metrics()), timeout_s=3)
        assert not otlp_receiver.metrics(name="otelperf.operation.duration")


class _Squatter(BaseHTTPRequestHandler):
    """Answers 200 to everything: another program holding the port the app was given."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


class TestHarness:
    def test_a_taken_port_is_retried_on_a_new_one(self, otlp_receiver: OTLPReceiver) -> None:
        """Another server holds the port (and answers 200): the app restarts on a free port."""
        with ThreadingHTTPServer(("127.0.0.1", 0), _Squatter) as squatter:
            threading.Thread(target=squatter.serve_forever, daemon=True).start()
            port = squatter.server_address[1]
            env = telemetry_env(otlp_receiver.grpc_endpoint, "grpc")
            with run_app(flask_command(port), port, env) as app:
                assert app.base_url != f"http://127.0.0.1:{port}"
                assert app.get("/users").json() == ["ada", "grace"]
            squatter.shutdown()
