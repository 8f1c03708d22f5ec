"""RFC 9457 problem details (`application/problem+json`) for every error the receiver answers."""

from __future__ import annotations

from dataclasses import asdict

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from receiver.errors import QueueUnavailable, RequestRejected, RequestTimeout

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:kuflow-router:problem:"


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, str]] | None = None,
) -> JSONResponse:
    """A problem+json response; `detail` must never contain a secret or the request body."""
    content: dict[str, object] = {
        "type": TYPE_PREFIX + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        content["errors"] = errors
    return JSONResponse(content, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def rejection(exc: RequestRejected, basic_enabled: bool = False) -> JSONResponse:
    """The answer to a refused webhook request, with `errors` for a 400."""
    headers: dict[str, str] = {}
    if isinstance(exc, QueueUnavailable):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, RequestTimeout):
        headers["Connection"] = "close"  # a stalled client's connection is not worth keeping
    if exc.status == 401 and basic_enabled:
        headers["WWW-Authenticate"] = 'Basic realm="kuflow-router"'
    errors = [asdict(error) for error in exc.errors]
    return problem(exc.status, exc.slug, exc.title, exc.detail, headers, errors)


async def http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (404, 405, …) in the same problem+json shape."""
    assert isinstance(exc, HTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
    return problem(exc.status_code, slug, title, str(exc.detail), dict(exc.headers or {}))


async def server_error(request: Request, exc: Exception) -> Response:
    """An unexpected failure: say so without leaking internals (the traceback goes to the log)."""
    return problem(500, "internal-error", "Internal error", "The router failed unexpectedly.")
