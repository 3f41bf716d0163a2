"""``otelperf top`` receiving from three real processes over gRPC and HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from otelperf.cli.top import parse_listen
from tests.e2e.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def sender_env(endpoint: str, protocol: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELPERF_"))}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OTEL_METRIC_EXPORT_INTERVAL="500",
        PYTHONPATH=str(ROOT),
    )
    return env


@pytest.mark.e2e
class TestTopFleet:
    def test_merged_p99_of_three_processes_matches_all_their_spans(self, tmp_path: Path) -> None:
        """Three processes (2 gRPC, 1 HTTP) export; top's merged p99 is within 1 % of the truth."""
        grpc_port, http_port = free_port(), free_port()
        report = tmp_path / "top.json"
        top = subprocess.Popen(
            [
                str(BIN / "otelperf"),
                "top",
                "--listen",
                f"127.0.0.1:{grpc_port}/{http_port}",
                "--no-live",
                "--report",
                str(report),
                "--duration",
                "120",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            time.sleep(1.5)  # top binds its ports
            assert top.poll() is None, top.communicate()[0]
            senders = [
                subprocess.Popen(
                    [sys.executable, "-m", "tests.cli.top_sender", str(seed), "3000"],
                    env=sender_env(endpoint, protocol),
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for seed, endpoint, protocol in (
                    (1, f"http://127.0.0.1:{grpc_port}", "grpc"),
                    (2, f"http://127.0.0.1:{grpc_port}", "grpc"),
                    (3, f"http://127.0.0.1:{http_port}", "http/protobuf"),
                )
            ]
            durations: list[float] = []
            for sender in senders:
                out, err = sender.communicate(timeout=60)
                assert sender.returncode == 0, err
                durations += json.loads(out)
            time.sleep(1.5)  # the pump's next pass
        finally:
            top.send_signal(signal.SIGINT)
            output = top.communicate(timeout=30)[0]
        assert top.returncode == 0, output
        data = json.loads(report.read_text())
        [operation] = [op for op in data["operations"] if op["summary"]["operation"] == "GET /work"]
        summary = operation["summary"]
        assert summary["count"] == len(durations) == 9000
        assert data["sources"] == 3
        true_p99_ms = float(np.percentile(durations, 99)) * 1e3
        assert summary["p99_ms"] == pytest.approx(true_p99_ms, rel=0.01)
        true_p50_ms = float(np.percentile(durations, 50)) * 1e3
        assert summary["p50_ms"] == pytest.approx(true_p50_ms, rel=0.01)
        assert "GET /work" in output  # the final table


class TestParseListen:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("127.0.0.1:4317/4318", ("127.0.0.1", 4317, 4318)),
            ("localhost:0/0", ("localhost", 0, 0)),
            ("127.0.0.1:4317", ("127.0.0.1", 4317, None)),
            ("127.0.0.1:/4318", ("127.0.0.1", None, 4318)),
            ("[::1]:4317/4318", ("::1", 4317, 4318)),
        ],
    )
    def test_parses_host_and_ports(self, text: str, expected: tuple[object, ...]) -> None:
        """HOST:GRPC/HTTP; an empty port is not served."""
        assert parse_listen(text) == expected

    @pytest.mark.parametrize("text", ["4317", "127.0.0.1:/", "127.0.0.1:99999/1", "h:x/1"])
    def test_rejects_malformed_values(self, text: str) -> None:
        """A usage error names the value and the expected form."""
        with pytest.raises(ValueError, match="--listen"):
            parse_listen(text)

    def test_bad_listen_exits_2(self) -> None:
        """The command exits 2 with a message on stderr."""
        done = subprocess.run(
            [str(BIN / "otelperf"), "top", "--listen", "nope"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2 and "--listen" in done.stderr
