"""The ``otelperf`` command line: one sub-command per module in this package.

Exit codes: 0 success, 1 the checked thing is invalid or failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

__all__ = ["main"]

# Each sub-command lives in its own module exposing ``register(subparsers)``; the module is
# imported only when the CLI runs, so ``import otelperf`` stays cheap.
_COMMANDS = ("check_config", "demo", "top", "report")


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="otelperf",
        description="Performance percentiles, budgets and leak detection for OpenTelemetry.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMANDS:
        importlib.import_module(f"otelperf.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (the console script passes it to ``sys.exit``)."""
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code
