"""Errors of the receiver layer.

ReceiverError
└── RequestRejected      a webhook request is refused; carries the HTTP status
    ├── Unauthorized         401: credentials missing or wrong, stale or future timestamp
    ├── UnsupportedMediaType 415: the body is not declared as JSON
    ├── BodyTooLarge         413: the body is over ROUTER_MAX_BODY_BYTES
    ├── RequestTimeout       408: the body did not arrive within ROUTER_READ_TIMEOUT_S
    ├── InvalidEvent         400: not JSON, or not a KuFlow event envelope
    │   └── StaleEvent       400: its timestamp is older than the dedup window (a replay?)
    └── QueueUnavailable     503: Redis could not be reached or refused the enqueue
"""

from __future__ import annotations

from contract.events import FieldError


class ReceiverError(Exception):
    """Base class of every error the receiver raises."""


class RequestRejected(ReceiverError):
    """A webhook request is refused; `status`, `slug` and `title` shape the problem+json answer."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"
    outcome: str = "rejected"

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.event_id: str | None = None  # when known: the log line of a 503 names the event
        self.event_type: str | None = None

    @property
    def reason(self) -> str:
        """Why, as the sender was told: the detail, and each field error's `loc: msg`."""
        located = "; ".join(f"{e.loc}: {e.msg}" for e in self.errors)
        return f"{self.detail} ({located})" if located else self.detail


class Unauthorized(RequestRejected):
    """401: which part failed is never said, so a prober learns nothing."""

    status = 401
    slug = "unauthorized"
    title = "Unauthorized"
    outcome = "unauthorized"

    def __init__(self) -> None:
        super().__init__("The request is not authenticated for this webhook endpoint.")


class UnsupportedMediaType(RequestRejected):
    """415: the Content-Type is missing or not JSON."""

    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"
    outcome = "unsupported_media_type"


class RequestTimeout(RequestRejected):
    """408: the body did not arrive in time (a slow or stalled client)."""

    status = 408
    slug = "request-timeout"
    title = "Request timeout"
    outcome = "timeout"


class BodyTooLarge(RequestRejected):
    """413: the body is over the configured limit (checked while streaming)."""

    status = 413
    slug = "body-too-large"
    title = "Body too large"
    outcome = "too_large"


class InvalidEvent(RequestRejected):
    """400: the body is not JSON or not a valid KuFlow event; `errors` locates each problem."""

    status = 400
    slug = "invalid-event"
    title = "Invalid event"
    outcome = "invalid"


class StaleEvent(InvalidEvent):
    """400: the event is older than ROUTER_DEDUP_TTL_S, so dedup could no longer catch a replay."""

    slug = "stale-event"
    title = "Stale event"
    outcome = "stale"


class QueueUnavailable(RequestRejected):
    """503: the event could not be queued durably; the sender should retry after `retry_after_s`."""

    status = 503
    slug = "queue-unavailable"
    title = "Queue unavailable"
    outcome = "unavailable"
    retry_after_s = 5
