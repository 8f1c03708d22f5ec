"""The receiver's ASGI application: webhook ingestion, health, readiness and metrics.

Checks run in the order SPEC §3 fixes, cheapest first, so that an unauthenticated request costs
no body read and a bad one changes nothing: credentials → content type → size (while streaming)
and time (ROUTER_READ_TIMEOUT_S) → HMAC over the raw body → JSON and schema → atomic dedup +
enqueue → 202. The headers' own deadline is the server's (receiver/deadline.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Span, SpanKind
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from common import redis_url, tracing
from common.errors import SettingsError
from common.redact import redact
from contract.events import NotAnEvent, parse_event, rfc3339_time
from receiver import metrics, problems
from receiver.admin import metrics_refusal
from receiver.auth import AuthConfig, Verdict, check_headers, check_signature
from receiver.errors import (
    BodyTooLarge,
    InvalidEvent,
    QueueUnavailable,
    RequestRejected,
    RequestTimeout,
    StaleEvent,
    UnsupportedMediaType,
)
from receiver.settings import ReceiverSettings
from store import reads
from store.queue import REDIS_TIMEOUT_S, Enqueuer, QueueSettings

log = logging.getLogger("kuflow_router.receiver")

# Redis errors surface as RedisError, or as the socket's own OSError / TimeoutError.
REDIS_DOWN = (RedisError, OSError, TimeoutError)


@dataclass(frozen=True)
class Receiver:
    """What a request handler needs, built once at start-up."""

    auth: AuthConfig
    max_body_bytes: int
    read_timeout_s: float
    redis: Redis
    enqueuer: Enqueuer
    admin_token: bytes | None
    max_age_s: int  # events older than the dedup window are refused: a replay could pass it
    max_ahead_s: int  # events dated further ahead than the clock tolerance are refused too


def connect_redis(url: str) -> Redis:
    """A client that fails fast when Redis is down (connect timeout).

    Reads have no per-socket timeout: every call site bounds its whole exchange with
    `asyncio.timeout(REDIS_TIMEOUT_S)` instead — one timer per round trip rather than one per
    reply parsed, which is a tenth of the receiver's time under load.
    """
    return redis_url.client(url, socket_connect_timeout=2, socket_timeout=None)


def _is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def read_body(receive: Receive, declared: str, limit: int) -> bytes:
    """Read the body, stopping as soon as it passes `limit` bytes: nothing large is buffered.

    Raises:
        BodyTooLarge: the declared length or the bytes received pass `limit`.
        ClientDisconnect: the client went away before the body was whole.
    """
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"The body is over the limit of {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"The body is over the limit of {limit} bytes.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def header_map(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (the first of repeated ones, as Starlette's
    `Headers.get` answers)."""
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return headers


def _check_age(timestamp: str, max_age_s: int, max_ahead_s: int) -> None:
    """Refuse an event from before the dedup window: a captured request replayed after the
    window (token and Basic auth carry no time of their own) would otherwise run again. And one
    dated ahead by more than clocks differ (ROUTER_SIGNATURE_TOLERANCE_S): forged to outlive
    that window, or from a clock to fix."""
    age_s = time.time() - rfc3339_time(timestamp).timestamp()
    if -age_s > max_ahead_s:
        raise StaleEvent(
            f"The event's timestamp is {-age_s:.0f} s ahead of this server's clock, more than "
            f"the {max_ahead_s} s clocks may differ (ROUTER_SIGNATURE_TOLERANCE_S); it is "
            "refused. Check the sender's clock."
        )
    if age_s > max_age_s:
        raise StaleEvent(
            f"The event's timestamp is {age_s / 86400:.1f} days old, older than the "
            f"{max_age_s / 86400:g} days in which a repeat would be recognised "
            "(ROUTER_DEDUP_TTL_S); it is refused as a possible replay. Send events as they "
            "happen."
        )


async def _ingest(
    receiver: Receiver, token: str | None, headers: dict[str, str], receive: Receive
) -> tuple[str, str, bool]:
    """Run every check and enqueue; return (event id, type, queued now)."""
    verdict = check_headers(receiver.auth, token, headers, time.time())
    if not _is_json(headers.get("content-type")):
        raise UnsupportedMediaType("Send the event as application/json.")
    try:
        async with asyncio.timeout(receiver.read_timeout_s):
            declared = headers.get("content-length", "")
            body = await read_body(receive, declared, receiver.max_body_bytes)
    except TimeoutError:
        raise RequestTimeout(
            f"The body did not arrive within {receiver.read_timeout_s:g} s."
        ) from None
    if verdict is Verdict.NEEDS_SIGNATURE:
        check_signature(receiver.auth, headers, body)
    try:
        event = parse_event(body)
    except NotAnEvent as exc:
        raise InvalidEvent(exc.detail, exc.errors) from None
    process_id = event.data.get("processId")
    process_id = process_id if isinstance(process_id, str) else ""
    if tracing.on():
        tracing.tag(**{"kuflow.event.id": event.id, "kuflow.event.type": event.type,
                       "kuflow.process.id": process_id or None})  # fmt: skip
    _check_age(event.timestamp, receiver.max_age_s, receiver.max_ahead_s)
    try:
        queued = await receiver.enqueuer.enqueue(
            event.id, event.type, body, process_id, tracing.carrier()
        )
    except REDIS_DOWN as exc:
        cause = redact(str(exc)) or type(exc).__name__
        where = redis_url.address(receiver.redis)
        log.warning("enqueue failed: Redis at %s: %s", where, cause, extra={"event_id": event.id})
        unavailable = QueueUnavailable("The event could not be queued; retry later.")
        unavailable.event_id, unavailable.event_type = event.id, event.type
        raise unavailable from None
    return event.id, event.type, queued


_JSON_202 = [(b"content-type", b"application/json")]


def _server_attributes(scope: Scope, token: str | None) -> dict[str, Any]:
    """The webhook request's span attributes (HTTP semantic conventions); the path's token is
    never one of them: the route stands in for the path."""
    client = scope.get("client") or ("", 0)
    return {
        "http.request.method": "POST",
        "http.route": "/webhooks/kuflow/{token}" if token else "/webhooks/kuflow",
        "url.scheme": scope.get("scheme", "http"),
        "client.address": client[0],
        "network.protocol.version": scope.get("http_version", "1.1"),
    }


class Webhook:
    """POST /webhooks/kuflow[/{token}]: 202 once the event is durably queued.

    A plain ASGI app (Starlette routes to it and checks the method): the path every event
    takes builds no Request, Headers or Response object; only a refusal is answered with one.
    """

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = scope.get("path_params", {}).get("token")
        headers = header_map(scope)
        if not tracing.on():
            await self._answer(scope, receive, send, token, headers, None)
            return
        with tracing.span(
            "POST /webhooks/kuflow", SpanKind.SERVER, _server_attributes(scope, token),
            tracing.context_of(headers),
        ) as current:  # fmt: skip
            await self._answer(scope, receive, send, token, headers, current)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        token: str | None,
        headers: dict[str, str],
        current: Span | None,
    ) -> None:
        """Check, enqueue and answer; count, log, and complete the request's span if any."""
        receiver = self.receiver
        started = time.perf_counter()
        event_id, event_type, outcome, status, reason = None, None, "queued", 202, ""
        try:
            event_id, event_type, queued = await _ingest(receiver, token, headers, receive)
            outcome = "queued" if queued else "duplicate"
            # The id is a normalised UUID and the status a fixed word: no JSON encoder needed.
            content = f'{{"id":"{event_id}","status":"{outcome}"}}'.encode()
            answer = [*_JSON_202, (b"content-length", str(len(content)).encode())]
            await send({"type": "http.response.start", "status": 202, "headers": answer})
            await send({"type": "http.response.body", "body": content})
        except RequestRejected as exc:
            outcome, status = exc.outcome, exc.status
            event_id, event_type, reason = exc.event_id, exc.event_type, exc.reason
            rejection = problems.rejection(exc, basic_enabled=bool(receiver.auth.basic))
            await rejection(scope, receive, send)
        metrics.received(event_type, outcome).inc()
        if current is not None:
            current.set_attribute("http.response.status_code", status)
            current.set_attribute("kuflow_router.outcome", outcome)
            if status >= 500:  # a refusal (4xx) is the sender's, not a failure here
                tracing.failed(current, reason or outcome)
        said = {
            "event_id": event_id,
            "type": event_type,
            "outcome": outcome,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        }
        if status != 202:
            said["reason"] = reason  # what the sender was told, never the body
        log.info("event received", extra=said)


async def _say_if_redis_is_down(redis: Redis) -> None:
    """At start: warn, with Redis's address, if it does not answer (the receiver starts all
    the same, answering 503 until it does)."""
    try:
        async with asyncio.timeout(REDIS_TIMEOUT_S):
            await redis.ping()
    except REDIS_DOWN as exc:
        log.warning("Redis at %s does not answer (%s): events are refused with 503 until it "
                    "does; check ROUTER_REDIS_URL", redis_url.address(redis),
                    redact(str(exc)) or type(exc).__name__)  # fmt: skip


async def healthz(request: Request) -> Response:
    """Liveness: the process answers."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: Redis answers (the receiver does not need rules to receive)."""
    receiver: Receiver = request.app.state.receiver
    try:
        async with asyncio.timeout(REDIS_TIMEOUT_S):
            await receiver.redis.ping()
    except REDIS_DOWN:
        return problems.problem(503, "not-ready", "Not ready", "Redis does not answer.")
    return JSONResponse({"status": "ready"})


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text format: with ROUTER_ADMIN_TOKEN set, for its bearer; else loopback only."""
    receiver: Receiver = request.app.state.receiver
    refusal = metrics_refusal(request, receiver.admin_token)
    if refusal is not None:
        return refusal
    try:
        async with asyncio.timeout(REDIS_TIMEOUT_S):
            figures = await reads.gauges(receiver.redis)
        metrics.QUEUE_DEPTH.set(figures.queued)
        metrics.DLQ_SIZE.set(figures.dead_letters)
        metrics.WORKERS_ALIVE.set(figures.workers_alive)
        metrics.TIMERS_PENDING.set(figures.timers.pending)
        metrics.TIMERS_OVERDUE.set(figures.timers.overdue)
        metrics.PROCESSES_HELD.set(figures.held_processes)
        metrics.AUDIT_ENTRIES.set(figures.audit_entries)
        for kind, count in figures.failures.items():
            metrics.FAILURES.labels(kind).set(count)
        since = figures.held_since_ms
        metrics.PROCESS_HELD_LONGEST.set(max(time.time() - since / 1000, 0) if since else 0)
        for name, state in figures.breakers.items():
            metrics.CONNECTION_STATE.labels(name).set(state)
    except REDIS_DOWN:
        pass  # the gauges keep their last value; /readyz reports the outage
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def create_app(settings: ReceiverSettings) -> Starlette:
    """Build the receiver from settings.

    Raises:
        SettingsError: no webhook authentication is configured, or ROUTER_REDIS_URL is unset.
    """
    auth = AuthConfig.from_settings(settings)
    if not settings.redis_url:
        raise SettingsError("ROUTER_REDIS_URL is not set: the receiver needs a Redis.")
    redis = connect_redis(settings.redis_url)
    admin = settings.admin_token.get_secret_value().encode() if settings.admin_token else None
    queue_settings = QueueSettings(
        settings.dedup_ttl_s,
        settings.event_ttl_s,
        settings.ordering == "process",
        settings.redis_min_replicas,
        settings.redis_replica_timeout_ms,
    )
    enqueuer = Enqueuer(redis, queue_settings)
    metrics.watch(enqueuer)
    receiver = Receiver(
        auth=auth,
        max_body_bytes=settings.max_body_bytes,
        read_timeout_s=settings.read_timeout_s,
        redis=redis,
        enqueuer=enqueuer,
        admin_token=admin,
        max_age_s=settings.dedup_ttl_s,
        max_ahead_s=settings.signature_tolerance_s,
    )

    webhook = Webhook(receiver)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if auth.modes:
            log.info("webhook authentication: %s", ", ".join(auth.modes))
        else:
            log.warning("ROUTER_INSECURE_NO_AUTH=true: webhooks are accepted WITHOUT auth")
        await _say_if_redis_is_down(redis)
        yield
        await redis.aclose()

    routes = [
        Route("/webhooks/kuflow", webhook, methods=["POST"]),
        Route("/webhooks/kuflow/{token}", webhook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    handlers = {HTTPException: problems.http_exception, Exception: problems.server_error}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.state.receiver = receiver
    return app
