"""OpenTelemetry traces: one trace per event, from the webhook request to each API call.

Configured by OpenTelemetry's own variables — `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, the
default, or `grpc` with its exporter installed), `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`,
`OTEL_BSP_*`, `OTEL_RESOURCE_ATTRIBUTES` — read by the SDK itself. With no endpoint, tracing is
off: `span` hands back a context that does nothing, and no span, id or context is ever made.

A trace crosses Redis in the job (`contract/job_format.py`): `carrier()` is the W3C
`traceparent`/`tracestate` of the current span, `context_of(carrier)` continues it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from common.redact import redact

_propagator = TraceContextTextMapPropagator()
# The try of the action now running, less one: its calls' `http.request.resend_count`.
_resends: ContextVar[int] = ContextVar("resends", default=0)
_tracer: trace.Tracer | None = None  # None: tracing is off
_provider: Any = None

ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
CARRIED = ("traceparent", "tracestate")  # the W3C trace context, in headers and in a job


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces (an OTLP endpoint is set)."""
    return any(environ.get(name) for name in ENDPOINTS)


def configure(role: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Start exporting this process's spans when an OTLP endpoint is set; whether it did.
    `role` (`receiver`, `worker`, `router`) names the service unless OTEL_SERVICE_NAME does.

    Raises:
        ValueError: OTEL_EXPORTER_OTLP_PROTOCOL names a protocol whose exporter is not
            installed.
    """
    global _tracer, _provider
    if not wanted(environ):
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    exporter: Any
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise ValueError(
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs the package "
                "opentelemetry-exporter-otlp-proto-grpc; or use http/protobuf"
            ) from None
        exporter = OTLPSpanExporter(endpoint=_endpoint(environ, ""))
    elif protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        exporter = HttpExporter(endpoint=_endpoint(environ, "/v1/traces"))
    else:
        raise ValueError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported: use http/protobuf "
            "(the default) or grpc"
        )
    name = environ.get("OTEL_SERVICE_NAME") or f"kuflow-router-{role}"
    _provider = TracerProvider(resource=Resource.create({"service.name": name}))
    _provider.add_span_processor(BatchSpanProcessor(exporter))
    _tracer = _provider.get_tracer("kuflow_router")
    return True


def _endpoint(environ: Mapping[str, str], path: str) -> str:
    """Where spans go: the traces endpoint as given, else the base endpoint with `path` (what
    the SDK does with the same variables)."""
    traces = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    return traces or environ["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + path


def shutdown() -> None:
    """Export what is buffered, then stop (at a graceful exit)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


def on() -> bool:
    """Whether spans are being made."""
    return _tracer is not None


@contextlib.contextmanager
def span(
    name: str,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    context: Context | None = None,
) -> Iterator[Span | None]:
    """A span around the block, current inside it (None when tracing is off). An exception
    leaving the block marks it failed; attribute values are masked like every log line."""
    if _tracer is None:
        yield None
        return
    shown = {k: _masked(v) for k, v in (attributes or {}).items() if v is not None}
    with _tracer.start_as_current_span(name, context, kind, shown) as current:
        yield current


def _masked(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


def note(name: str, **attributes: Any) -> None:
    """An event on the current span (a retry, a held call, a dead letter …), if one records."""
    if _tracer is None:
        return
    current = trace.get_current_span()
    if current.is_recording():
        current.add_event(name, {k: _masked(v) for k, v in attributes.items() if v is not None})


def tag(**attributes: Any) -> None:
    """Attributes on the current span, if one records."""
    if _tracer is None:
        return
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attributes({k: _masked(v) for k, v in attributes.items() if v is not None})


def attempt(number: int) -> None:
    """The action now running is on its `number`th try (its calls' spans say so)."""
    if _tracer is not None:
        _resends.set(number - 1)


def resends() -> int:
    """How many times the action now running was tried before (0: its first try)."""
    return _resends.get()


def failed(current: Span | None, description: str) -> None:
    """Mark `current` failed with `description` (masked)."""
    if current is not None:
        current.set_status(Status(StatusCode.ERROR, redact(description)))


def carrier() -> dict[str, str]:
    """The current span's W3C trace context, to send on (a job, a request's headers); empty
    when tracing is off."""
    if _tracer is None:
        return {}
    found: dict[str, str] = {}
    _propagator.inject(found)
    return found


def context_of(headers: Mapping[str, str] | None) -> Context | None:
    """The trace context `headers` (or a job's carrier) continue, if any and tracing is on."""
    if _tracer is None or not headers:
        return None
    given = {k: v for k, v in headers.items() if k in CARRIED}
    return _propagator.extract(given) if given else None


def trace_id_of(carried: Mapping[str, str] | None) -> str:
    """The trace id a W3C `traceparent` names (`00-<trace id>-<span id>-<flags>`), or ""."""
    parts = (carried or {}).get("traceparent", "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else ""


def ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span in hex, or None."""
    if _tracer is None:
        return None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def link(trace_url: str, trace_id: str | None) -> str | None:
    """The tracing backend's page of `trace_id`: ROUTER_TRACE_URL with `{trace_id}` filled in
    (None without either)."""
    if not trace_url or not trace_id:
        return None
    return trace_url.replace("{trace_id}", quote(trace_id, safe=""))
