"""``otelperf check-config PATH...``: vet Collector configs, compose files and dashboards offline.

Each PATH is recognised by name and content: a Collector config (checked against the component
list of the pinned otelcol-contrib release and the pipeline rules), a docker compose file (the
compose-spec schema plus references and host paths) or a Grafana dashboard JSON (queries may use
only metric names that otelperf or the span metrics connector send to Prometheus).

Output: one line per problem, ``PATH: problem``. Exit code 0 when every file is valid (warnings
allowed unless ``--strict``), 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from otelperf.cli._collector import PINNED_VERSION, check_file, load_catalog

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``check-config`` sub-command to the ``otelperf`` parser."""
    parser = subparsers.add_parser(
        "check-config",
        help="check Collector configs, docker compose files and Grafana dashboards offline",
        description=(
            "Check files without a Collector binary or Docker. Collector configs are checked "
            f"against the components of otelcol-contrib {PINNED_VERSION}. Prints 'PATH: problem' "
            "per problem; exits 1 if any file has an error."
        ),
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="file to check")
    parser.add_argument(
        "--compose", action="store_true", help="treat every PATH as a docker compose file"
    )
    parser.add_argument("--strict", action="store_true", help="fail on warnings too")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check every path in ``args.paths``; print the problems; return the exit code."""
    catalog = load_catalog()
    failed = False
    for path in args.paths:
        for problem in check_file(path, catalog=catalog, compose=args.compose):
            sys.stdout.write(problem.render(str(path)) + "\n")
            failed = failed or problem.severity == "error" or args.strict
    return 1 if failed else 0
