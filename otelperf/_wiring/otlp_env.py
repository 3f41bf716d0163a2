"""Refuse the standard OTLP exporter variables the SDK's exporters would choke on, up front.

The SDK's OTLP exporters read their ``OTEL_EXPORTER_OTLP_*`` variables in their constructors,
and the gRPC ones raise there with messages that do not name the problem well (a bare
``ValueError: could not convert string to float``, ``InvalidCompressionValueException``, a
``KeyError``), which under ``opentelemetry-instrument`` became a 25-line traceback. The HTTP ones
log a warning and fall back to a default instead. :func:`check_otlp_environment` reads the same
variables the way each signal's exporter will, before any exporter is built, and raises
:class:`~otelperf.ConfigError` naming the variable, its value and what is expected.

What the SDK (1.45) does with each, per transport, and what is checked:

* ``OTEL_EXPORTER_OTLP[_TRACES|_METRICS]_TIMEOUT``: gRPC ``float()``s it and raises for text
  (even ``''``); HTTP warns and uses 10 s. Checked for both: a finite number of seconds > 0.
* ``..._COMPRESSION``: the SDK's gRPC exporters accept only ``gzip`` (the specification's ``none``,
  and ``''``, raise), so otelperf builds them with the compression given explicitly: ``gzip`` or
  ``none`` (an empty value counts as unset). HTTP accepts ``gzip``, ``deflate``, ``none``. Checked
  per transport.
* ``..._ENDPOINT``: gRPC raises when ``urlparse`` does (``http://[::1``); HTTP fails at each
  export. Checked for both: a URL whose host and port parse.
* ``..._CERTIFICATE``, ``..._CLIENT_KEY``, ``..._CLIENT_CERTIFICATE``: gRPC reads the files in
  the constructor and raises for a directory or an unreadable file. Checked for gRPC.
* ``OTEL_PYTHON_EXPORTER_OTLP_GRPC_RETRYABLE_ERROR_CODES``: an unknown code is a ``KeyError``.
* ``OTEL_PYTHON_EXPORTER_OTLP_{GRPC|HTTP}[_TRACES|_METRICS]_CREDENTIAL_PROVIDER``: a name with no
  ``opentelemetry_otlp_credential_provider`` entry point is a ``RuntimeError``.

A per-signal variable wins over the general one (OTLP exporter specification); only the variable
the exporter will really read is checked. Pure of I/O except the file checks and the entry-point
lookup, and run once at configuration time.
"""

from __future__ import annotations

import math
import os
import urllib.parse
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from typing import Literal

from otelperf._errors import ConfigError, describe

__all__ = ["check_otlp_environment", "transports"]

Signal = Literal["traces", "metrics"]
Transport = Literal["grpc", "http"]

_PREFIX = "OTEL_EXPORTER_OTLP_"
_PROTOCOLS: dict[str, Transport] = {"grpc": "grpc", "http/protobuf": "http"}
_ENTRY_POINTS: dict[str, Transport] = {"otlp_proto_grpc": "grpc", "otlp_proto_http": "http"}
_COMPRESSIONS: dict[Transport, tuple[str, ...]] = {
    "grpc": ("gzip", "none"),
    "http": ("gzip", "deflate", "none"),
}
_COMPRESSION_EXPECTED: dict[Transport, str] = {
    "grpc": "gzip or none (gRPC)",
    "http": "gzip, deflate or none",
}
_CREDENTIAL_GROUP = "opentelemetry_otlp_credential_provider"
_RETRYABLE_CODES = "OTEL_PYTHON_EXPORTER_OTLP_GRPC_RETRYABLE_ERROR_CODES"


def transports(signal: Signal, names: Iterable[str], environ: Mapping[str, str]) -> set[Transport]:
    """The OTLP transports the exporters ``names`` of ``signal`` will use.

    ``otlp`` follows ``OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL``, then ``OTEL_EXPORTER_OTLP_PROTOCOL``,
    then gRPC, as otelperf's exporter loader does; an unknown protocol adds nothing (the loader
    refuses it with its own message). Other names (``console``, vendors) use no OTLP transport.
    """
    found: set[Transport] = set()
    for name in names:
        if name in _ENTRY_POINTS:
            found.add(_ENTRY_POINTS[name])
        elif name == "otlp":
            protocol = _first_set(
                (f"{_PREFIX}{signal.upper()}_PROTOCOL", f"{_PREFIX}PROTOCOL"), environ, blank=False
            )
            value = environ[protocol].strip() if protocol else "grpc"
            if value in _PROTOCOLS:
                found.add(_PROTOCOLS[value])
    return found


def check_otlp_environment(
    span_exporters: Iterable[str], metric_exporters: Iterable[str], environ: Mapping[str, str]
) -> None:
    """Raise ``ConfigError`` for an OTLP variable the exporters about to be built cannot use.

    Args:
        span_exporters: The span exporter names otelperf will build (empty when it builds none,
            e.g. when it attaches to someone else's tracer provider).
        metric_exporters: The metric exporter names otelperf will build.
        environ: The environment the exporters read.

    Raises:
        ConfigError: Names the variable, its value and what is expected.
    """
    wanted: dict[Signal, Iterable[str]] = {
        "traces": tuple(span_exporters),
        "metrics": tuple(metric_exporters),
    }
    for signal, names in wanted.items():
        for transport in sorted(transports(signal, names, environ)):
            _check_signal(signal, transport, environ)


def _first_set(names: Iterable[str], environ: Mapping[str, str], *, blank: bool) -> str | None:
    """The first variable of ``names`` that is set; ``blank``: an empty value counts as set.

    The gRPC exporters test ``var is not None`` (an empty value is read, and refused), the HTTP
    ones ``var or ...`` (an empty value falls through to the next variable).
    """
    for name in names:
        value = environ.get(name)
        if value is not None and (blank or value.strip()):
            return name
    return None


def _check_signal(signal: Signal, transport: Transport, environ: Mapping[str, str]) -> None:
    grpc = transport == "grpc"

    def pick(suffix: str, *, blank: bool = grpc) -> tuple[str, str] | None:
        var = _first_set(
            (f"{_PREFIX}{signal.upper()}_{suffix}", f"{_PREFIX}{suffix}"), environ, blank=blank
        )
        return None if var is None else (var, environ[var])

    if found := pick("TIMEOUT"):
        _check_timeout(*found)
    if found := pick("COMPRESSION", blank=False):  # gRPC: given explicitly, see _exporters
        var, value = found
        if value.strip().lower() not in _COMPRESSIONS[transport]:
            raise ConfigError(
                f"{describe(var, value)}: expected {_COMPRESSION_EXPECTED[transport]}"
            )
    # Both transports take the first non-empty endpoint.
    if found := pick("ENDPOINT", blank=False):
        _check_endpoint(*found)
    if grpc:
        for suffix in ("CERTIFICATE", "CLIENT_KEY", "CLIENT_CERTIFICATE"):
            for var in (f"{_PREFIX}{signal.upper()}_{suffix}", f"{_PREFIX}{suffix}"):
                _check_file(var, environ.get(var, ""))
        _check_retryable_codes(environ.get(_RETRYABLE_CODES, ""))
    wire = "GRPC" if grpc else "HTTP"
    for var in (
        f"OTEL_PYTHON_EXPORTER_OTLP_{wire}_CREDENTIAL_PROVIDER",
        f"OTEL_PYTHON_EXPORTER_OTLP_{wire}_{signal.upper()}_CREDENTIAL_PROVIDER",
    ):
        _check_credential_provider(var, environ.get(var, ""))


def _check_timeout(var: str, value: str) -> None:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (0 < seconds < math.inf):
        raise ConfigError(
            f"{describe(var, value)}: expected a number of seconds > 0 (the Python SDK reads "
            "this variable in seconds)"
        )


def _check_endpoint(var: str, value: str) -> None:
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as error:
        raise ConfigError(
            f"{describe(var, value)}: expected a URL such as http://localhost:4317 ({error})"
        ) from None


def _check_file(var: str, path: str) -> None:
    # A missing file is logged by the SDK and ignored; a directory or an unreadable file raises.
    if not path.strip() or not os.path.exists(path):
        return
    if os.path.isdir(path) or not os.access(path, os.R_OK):
        raise ConfigError(f"{describe(var, path)}: expected a readable PEM file")


def _check_retryable_codes(value: str) -> None:
    codes = [code.strip().upper() for code in value.split(",") if code.strip()]
    if not codes:
        return
    from grpc import StatusCode  # only when the gRPC exporter is about to be built

    known = StatusCode.__members__
    if unknown := [code for code in codes if code not in known]:
        raise ConfigError(
            f"{describe(_RETRYABLE_CODES, value)}: {', '.join(unknown)} is not a gRPC status "
            f"code; expected names from: {', '.join(known)}"
        )


def _check_credential_provider(var: str, value: str) -> None:
    name = value.strip()
    if not name:
        return
    known = sorted(ep.name for ep in entry_points(group=_CREDENTIAL_GROUP))
    if name not in known:
        choices = ", ".join(known) if known else "none is installed"
        raise ConfigError(
            f"{describe(var, value)}: expected the name of an '{_CREDENTIAL_GROUP}' entry "
            f"point ({choices})"
        )
