"""Tracing's configuration: off without an endpoint, a protocol it cannot use refused with what to
install, ROUTER_TRACE_URL checked and filled in."""

from __future__ import annotations

import pytest

from common import tracing
from common.errors import SettingsError
from common.settings import CommonSettings, load


def test_off_without_an_endpoint_nothing_is_made() -> None:
    assert not tracing.configure("worker", environ={})
    with tracing.span("x") as current:
        assert current is None
    assert tracing.carrier() == {} and tracing.ids() is None
    assert tracing.context_of({"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}) is None


@pytest.mark.parametrize(
    ("protocol", "said"),
    [("grpc", "opentelemetry-exporter-otlp-proto-grpc"), ("http/json", "is not supported")],
)
def test_a_protocol_it_cannot_use_is_refused_saying_why(protocol: str, said: str) -> None:
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
               "OTEL_EXPORTER_OTLP_PROTOCOL": protocol}  # fmt: skip
    with pytest.raises(ValueError, match=said):
        tracing.configure("worker", environ)
    assert not tracing.on()


def test_the_trace_url_needs_its_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_TRACE_URL", "http://jaeger.example:16686/trace/")
    with pytest.raises(SettingsError, match="ROUTER_TRACE_URL"):
        load(CommonSettings)
    monkeypatch.setenv("ROUTER_TRACE_URL", "http://jaeger.example:16686/trace/{trace_id}")
    url = load(CommonSettings).trace_url
    assert tracing.link(url, "4bf9") == "http://jaeger.example:16686/trace/4bf9"
    assert tracing.link("", "4bf9") is None and tracing.link(url, None) is None
