"""An OTLP/HTTP trace receiver, as a collector answers: `POST /v1/traces` with an
`ExportTraceServiceRequest` in protobuf, decoded with opentelemetry-proto's own messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tests.doubles.server import Double

KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


@dataclass(frozen=True)
class Span:
    """One exported span, in plain values."""

    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    failed: bool


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


class OtlpDouble(Double):
    """Keeps every span exported to it."""

    def __init__(self) -> None:
        super().__init__(self._receive)  # type: ignore[arg-type]
        self.spans: list[Span] = []

    async def _receive(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.url.path != "/v1/traces" or request.method != "POST":
            await Response(status_code=404)(scope, receive, send)
            return
        if request.headers.get("content-type") != "application/x-protobuf":
            await Response(status_code=415)(scope, receive, send)
            return
        exported = ExportTraceServiceRequest()
        exported.ParseFromString(await request.body())
        for resource in exported.resource_spans:
            service = _attributes(resource.resource.attributes).get("service.name", "")
            for scoped in resource.scope_spans:
                self.spans += [_span(service, span) for span in scoped.spans]
        answer = ExportTraceServiceResponse().SerializeToString()
        await Response(answer, media_type="application/x-protobuf")(scope, receive, send)

    def named(self, name: str) -> list[Span]:
        return [span for span in self.spans if span.name == name]


def _span(service: str, span: Any) -> Span:
    return Span(
        service=service,
        name=span.name,
        kind=KINDS.get(span.kind, str(span.kind)),
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_id=span.parent_span_id.hex(),
        attributes=_attributes(span.attributes),
        events=[(event.name, _attributes(event.attributes)) for event in span.events],
        failed=span.status.code == 2,
    )
