"""Send one planned request and classify the answer: success, transient or permanent failure."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from opentelemetry.trace import Span, SpanKind

from common import tracing
from handlers.clients import exchanges
from handlers.clients.base import PlannedRequest
from handlers.clients.errors import PermanentError, TransientError
from handlers.clients.network import Answer, Client, NetworkError

TRANSIENT_STATUSES = frozenset({408, 425, 429})
EXCERPT_CHARS = 300


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def remote_error(response: Answer) -> str:
    """The API's own words about the failure: UC-REST-ERROR, or `message`/`error` in JSON."""
    header: str = response.headers.get("UC-REST-ERROR", "")
    if header:
        return header
    try:
        body = response.json()
    except ValueError:
        return ""
    return _message_of(body)


def _message_of(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    for key in ("message", "error_description", "detail", "title"):
        if isinstance(body.get(key), str):
            return str(body[key])
    error = body.get("error")
    if isinstance(error, dict):
        return _message_of(error) or str(
            error.get("user_message") or error.get("developer_message") or ""
        )
    return error if isinstance(error, str) else ""


def excerpt(response: Answer) -> str:
    """The start of the response body, for the dead-letter entry."""
    return response.text[:EXCERPT_CHARS]


def encoded(request: PlannedRequest) -> tuple[bytes | None, str]:
    """The request's body and its content type: compact JSON (UTF-8), a form, or none."""
    if request.json is not None:
        text = json.dumps(request.json, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode(), request.content_type or "application/json"
    if request.form:
        return urlencode(request.form).encode(), "application/x-www-form-urlencoded"
    return None, ""


async def send(
    client: Client,
    request: PlannedRequest,
    headers: Mapping[str, str],
    timeout_s: float,
) -> Answer:
    """Send `request`; return the response if it is a success (2xx).

    Raises:
        TransientError: network error, timeout, 408, 425, 429 or 5xx.
        PermanentError: any other non-2xx status.
    """
    if not tracing.on():
        return await _send(client, request, headers, timeout_s, None)
    attributes = {
        "http.request.method": request.method,
        "url.full": request.url,  # the query and the credentials (headers) stay out
        "server.address": urlsplit(request.url).hostname,
        "http.request.resend_count": tracing.resends() or None,
    }
    with tracing.span(request.method, SpanKind.CLIENT, attributes) as current:
        return await _send(client, request, headers, timeout_s, current)


async def _send(
    client: Client,
    request: PlannedRequest,
    headers: Mapping[str, str],
    timeout_s: float,
    current: Span | None,
) -> Answer:
    where = f"{request.method} {request.url}"
    body, content_type = encoded(request)
    sent = dict(headers)
    if content_type and not any(name.lower() == "content-type" for name in sent):
        sent["Content-Type"] = content_type
    sent.update(tracing.carrier())  # the API's own traces join ours, under this call's span
    started = time.perf_counter()
    try:
        response = await client.request(request.method, request.full_url, sent, body, timeout_s)
    except TimeoutError:
        error = f"{where}: no answer within {timeout_s:g} s"
        exchanges.note(request, headers, time.perf_counter() - started, error=error)
        tracing.failed(current, error)
        raise TransientError(error, kind="timeout") from None
    except NetworkError as exc:
        error = f"{where}: {exc}"
        exchanges.note(request, headers, time.perf_counter() - started, error=error)
        tracing.failed(current, error)
        raise TransientError(error, kind=exc.kind) from None
    exchanges.note(request, headers, time.perf_counter() - started, response)
    if current is not None:
        current.set_attribute("http.response.status_code", response.status)
    if response.is_success:
        return response
    tracing.failed(current, f"{response.status}")
    status = response.status
    text = remote_error(response)
    message = f"{where} answered {status}" + (f": {text}" if text else "")
    if status in TRANSIENT_STATUSES or status >= 500:
        after = retry_after(response.headers.get("Retry-After"))
        raise TransientError(message, status, text, excerpt(response), after)
    raise PermanentError(message, status, text, excerpt(response))


def json_body(response: Answer) -> Any:
    """The response's JSON, or None when it has no body.

    Raises:
        PermanentError: the body is not JSON.
    """
    if not response.body:
        return None
    try:
        return response.json()
    except ValueError:
        raise PermanentError(
            f"{response.method} {response.url} answered {response.status} "
            "with a body that is not JSON",
            response.status,
            excerpt=excerpt(response),
        ) from None
