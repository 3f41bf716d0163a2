"""Feed the distro's configurator bad settings, one at a time, and report what it said.

Run with plain ``python`` (the configurator is called the way ``opentelemetry-instrument``
calls it). For every (variable, value) pair it clears otelperf's handle, sets the variable,
calls ``OtelperfConfigurator().configure()`` and records: whether otelperf got installed,
the ERROR lines of the ``otelperf`` logger, and any exception that escaped (there must be
none). Prints one JSON object.
"""

from __future__ import annotations

import json
import logging
import os
import sys

from otelperf import _configure
from otelperf._distro import OtelperfConfigurator


class Capture(logging.Handler):
    """Keep the formatted messages of ERROR records."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def main() -> None:
    """Try each pair given as JSON on stdin: [[variable, value], ...]."""
    pairs = json.load(sys.stdin)
    capture = Capture()
    logging.getLogger("otelperf").addHandler(capture)
    report = []
    for variable, value in pairs:
        _configure._handle = None
        os.environ[variable] = value
        capture.lines = []
        escaped = None
        try:
            OtelperfConfigurator().configure()
        except BaseException as error:  # noqa: BLE001 - reported, it must never happen
            escaped = repr(error)
        installed = _configure.current() is not None
        if installed:
            _configure.shutdown(timeout_s=2)
        del os.environ[variable]
        report.append(
            {"variable": variable, "value": value, "installed": installed,
             "errors": capture.lines, "escaped": escaped}
        )  # fmt: skip
    print(json.dumps(report))


if __name__ == "__main__":
    main()
