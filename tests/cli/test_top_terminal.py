"""The live view in a real terminal: ``otelperf top`` on a pty, its screen read by pyte."""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from tests.cli.test_top import ROOT, sender_env
from tests.e2e.harness import free_port

pyte = pytest.importorskip("pyte")

BIN = Path(sys.executable).parent
COLUMNS, LINES = 150, 40


class Terminal:
    """A pty of COLUMNS x LINES whose output a pyte screen renders as it arrives."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
        self.screen = pyte.Screen(COLUMNS, LINES)
        self.stream = pyte.ByteStream(self.screen)
        self._lock = threading.Lock()  # guards screen and stream
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.stream.feed(data)

    def text(self) -> str:
        with self._lock:
            return "\n".join(self.screen.display)

    def style_of(self, word: str) -> tuple[str, str, bool] | None:
        """(fg, bg, bold) of the first character of the last on-screen ``word``."""
        with self._lock:
            for y in range(LINES - 1, -1, -1):
                x = self.screen.display[y].find(word)
                if x >= 0:
                    cell = self.screen.buffer[y][x]
                    return cell.fg, cell.bg, cell.bold
        return None

    def wait_for(self, text: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.text():
                return True
            time.sleep(0.1)
        return False


@pytest.mark.e2e
def test_live_view_shows_operations_percentiles_and_budget_states() -> None:
    """On a 150x40 terminal the view shows the table, the breached budget in red and the alert."""
    grpc_port = free_port()
    terminal = Terminal()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELPERF_"))}
    env.update(TERM="xterm-256color", PYTHONPATH=str(ROOT))
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    top = subprocess.Popen(
        [
            str(BIN / "otelperf"),
            "top",
            "--listen",
            f"127.0.0.1:{grpc_port}/",
            "--budgets",
            "GET /work p95<1ms",
            "--duration",
            "60",
        ],
        stdin=terminal.slave,
        stdout=terminal.slave,
        stderr=terminal.slave,
        env=env,
        start_new_session=True,
    )
    try:
        assert terminal.wait_for("waiting for otelperf metrics", 15), terminal.text()
        sender = subprocess.run(
            [sys.executable, "-m", "tests.cli.top_sender", "1", "2000"],
            env=sender_env(f"http://127.0.0.1:{grpc_port}", "grpc"),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sender.returncode == 0, sender.stderr
        assert terminal.wait_for("GET /work", 10), terminal.text()
        assert terminal.wait_for("critical", 10), terminal.text()
        screen = terminal.text()
        for heading in (
            "operation",
            "total",
            "rps",
            "err %",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "p99 trend",
            "budget",
            "alerts",
            "otelperf top",
            "1 process(es)",
        ):
            assert heading in screen, heading
        assert "2,000" in screen  # every span of the sender, merged
        assert "GET /work p95" in screen  # the fleet alert line
        fg, bg, bold = terminal.style_of("critical") or ("", "", False)
        assert bg == "red" and bold, (fg, bg, bold)  # critical: bold white on red
    finally:
        top.send_signal(signal.SIGINT)
        try:
            top.wait(20)
        finally:
            if top.poll() is None:
                top.kill()
            os.close(terminal.slave)
            os.close(terminal.master)
    assert top.returncode == 0
