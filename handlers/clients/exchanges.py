"""What one try of an action sent and got back, kept for the console's event page.

`send` notes each exchange — the request (method, URL, headers, body excerpt) and the answer
(status, time, body excerpt) or the error — into the list that `recording()` opened for the
current try, if any (a context variable: concurrent jobs never mix their notes). Credentials
never reach a note: authorization headers and secret form fields are masked here, and every
registered secret is masked again when the worker writes the record (`common.redact`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from handlers.clients.base import PlannedRequest
from handlers.clients.network import Answer

EXCERPT_BYTES = 4096  # each body excerpt, request and answer
MASK = "***"
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-ultracart-simple-key", "cookie"}
)
_SECRET_WORDS = ("secret", "token", "password", "key")

_notes: ContextVar[list[dict[str, Any]] | None] = ContextVar("exchanges", default=None)


@contextmanager
def recording() -> Iterator[list[dict[str, Any]]]:
    """Collect the exchanges of the code run inside the block."""
    notes: list[dict[str, Any]] = []
    token = _notes.set(notes)
    try:
        yield notes
    finally:
        _notes.reset(token)


def current() -> list[dict[str, Any]]:
    """The exchanges noted so far in the open recording (none outside one)."""
    return list(_notes.get() or [])


def _excerpt(text: str) -> str:
    raw = text.encode()
    if len(raw) <= EXCERPT_BYTES:
        return text
    return raw[:EXCERPT_BYTES].decode(errors="ignore") + f"… ({len(raw)} bytes in all)"


def _secret(name: str) -> bool:
    return any(word in name.lower() for word in _SECRET_WORDS)


def _request_body(request: PlannedRequest) -> str:
    if request.form:
        return "&".join(f"{k}={MASK if _secret(k) else v}" for k, v in request.form)
    if request.json is None:
        return ""
    return _excerpt(json.dumps(request.json, ensure_ascii=False))


def note(
    request: PlannedRequest,
    headers: Mapping[str, str],
    duration_s: float,
    response: Answer | None = None,
    error: str = "",
) -> None:
    """Note one exchange in the open recording; nothing happens outside one."""
    notes = _notes.get()
    if notes is None:
        return
    query = [(k, MASK if _secret(k) else v) for k, v in request.query]
    shown = PlannedRequest(request.method, request.url, query=tuple(query))
    notes.append(
        {
            "method": request.method,
            "url": shown.full_url,
            "headers": {k: MASK if k.lower() in SECRET_HEADERS else v for k, v in headers.items()},
            "body": _request_body(request),
            "status": response.status if response is not None else 0,
            "duration_ms": round(duration_s * 1000, 1),
            "answer": _excerpt(response.text) if response is not None else "",
            "error": error,
        }
    )
