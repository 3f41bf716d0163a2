"""Decoding OTLP/HTTP request bodies: content encodings, protobuf and OTLP/JSON."""

from __future__ import annotations

import base64
import contextlib
import json
import zlib
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format, message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from otelperf._receiver.faults import Signal
from otelperf._receiver.store import ExportRequest

__all__ = [
    "JSON",
    "PATHS",
    "PROTOBUF",
    "PROTOBUF_ALIASES",
    "RESPONSES",
    "RPC_CODES",
    "Rejected",
    "decode",
    "decompress",
    "encode",
]

PATHS: Mapping[str, Signal] = {
    "/v1/traces": "traces",
    "/v1/metrics": "metrics",
    "/v1/logs": "logs",
}
_REQUESTS: Mapping[Signal, type[ExportRequest]] = {
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
    "logs": ExportLogsServiceRequest,
}
RESPONSES: Mapping[Signal, Any] = {
    "traces": ExportTraceServiceResponse,
    "metrics": ExportMetricsServiceResponse,
    "logs": ExportLogsServiceResponse,
}
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
PROTOBUF_ALIASES = frozenset({PROTOBUF, "application/protobuf"})
# google.rpc.Code values for the statuses OTLP/HTTP gives a meaning to; others are UNKNOWN.
RPC_CODES: Mapping[int, int] = {400: 3, 413: 8, 429: 8, 502: 14, 503: 14, 504: 14}
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


class Rejected(Exception):
    """A malformed request, answered with ``status`` and counted as ``"rejected"``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _hex_ids_to_base64(node: object) -> object:
    """Rewrite OTLP/JSON ids (hex) into what the generic protobuf JSON mapping expects (base64).

    A 16- or 8-byte id is 24 or 12 base64 characters with ``=`` padding, never valid hex, so a
    value that does not parse as hex is left for ``ParseDict`` to read as base64.
    """
    if isinstance(node, dict):
        converted: dict[str, object] = {}
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                with contextlib.suppress(ValueError):
                    value = base64.b64encode(bytes.fromhex(value)).decode("ascii")
                converted[key] = value
            else:
                converted[key] = _hex_ids_to_base64(value)
        return converted
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    return node


def decompress(body: bytes, encoding: str, limit_bytes: int) -> bytes:
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        wbits = zlib.MAX_WBITS  # zlib-wrapped, as HTTP "deflate" and the OTel exporter use
    else:
        raise Rejected(415, f"unsupported Content-Encoding {encoding!r}")
    inflater = zlib.decompressobj(wbits)
    try:
        # max_length bounds memory: a small bomb cannot inflate past the body limit.
        data = inflater.decompress(body, limit_bytes + 1)
    except zlib.error as error:
        raise Rejected(400, f"bad {encoding} body: {error}") from error
    if len(data) > limit_bytes:
        raise Rejected(413, f"decompressed body exceeds {limit_bytes} bytes")
    if not inflater.eof:
        raise Rejected(400, f"truncated {encoding} body")
    return data


def decode(data: bytes, *, signal: Signal, content_type: str) -> ExportRequest:
    request = _REQUESTS[signal]()
    if content_type in PROTOBUF_ALIASES:
        try:
            request.ParseFromString(data)
        except message.DecodeError as error:
            raise Rejected(400, f"bad protobuf body: {error}") from error
        return request
    if content_type == JSON:
        try:
            document = json.loads(data)
            if not isinstance(document, dict):
                raise Rejected(400, "JSON body is not an object")
            # OTLP/JSON receivers must ignore unknown fields (OTLP specification).
            converted: dict[str, Any] = _hex_ids_to_base64(document)  # type: ignore[assignment]
            json_format.ParseDict(converted, request, ignore_unknown_fields=True)
        except (ValueError, json_format.ParseError) as error:
            raise Rejected(400, f"bad JSON body: {error}") from error
        return request
    raise Rejected(415, f"unsupported Content-Type {content_type!r}")


def encode(proto: Any, *, as_json: bool) -> bytes:
    """Serialise a response message as OTLP/JSON or binary protobuf."""
    if as_json:
        text: str = json_format.MessageToJson(proto)
        return text.encode("utf-8")
    data: bytes = proto.SerializeToString()
    return data
