"""Errors of the API clients: whether a failed call is worth retrying.

ActionFailed
├── TransientError   network errors, timeouts, 408, 425, 429, 5xx: retried with backoff
└── PermanentError   any other 4xx (409 included: KuFlow uses it for an invalid state), an
    │                answer that says it failed, or an answer that cannot be understood
    └── UnsafePathValue  a value for a URL path segment is `.` or `..`: nothing is sent
"""

from __future__ import annotations


class ActionFailed(Exception):
    """A call to an outside API failed; `status` is the HTTP status, 0 when none came back, and
    `kind` what went wrong in a few words (`HTTP 422`, `timeout`, `connection refused` …): the
    dead-letter queue groups failures by it."""

    def __init__(
        self, message: str, status: int = 0, remote: str = "", excerpt: str = "", kind: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.remote = remote  # the API's own error text, as it said it
        self.excerpt = excerpt  # the start of the response body
        self.kind = kind or (f"HTTP {status}" if status else "")


class TransientError(ActionFailed):
    """Worth retrying; `retry_after_s` is the server's minimum wait, when it gave one."""

    def __init__(
        self,
        message: str,
        status: int = 0,
        remote: str = "",
        excerpt: str = "",
        retry_after_s: float | None = None,
        kind: str = "",
    ) -> None:
        super().__init__(message, status, remote, excerpt, kind)
        self.retry_after_s = retry_after_s


class PermanentError(ActionFailed):
    """Retrying would fail the same way; the action goes to the dead-letter queue."""


class UnsafePathValue(PermanentError):
    """A URL path segment's value is `.` or `..`, which an HTTP client would resolve away."""
