"""Generic HTTP: `request` against a connection's fixed `base_url`.

The path is a template whose values are URL-encoded, and the rendered path may not leave the
base path: `..` or `.` segments, `//`, a backslash, `@` or a scheme are refused, so event data
can never choose where a request goes.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from handlers.clients.base import (
    ActionCall,
    Connection,
    ConnectionType,
    Operation,
    PlannedRequest,
    Single,
    result_from,
)
from handlers.clients.params import Params

_DOT_SEGMENT = re.compile(r"^(\.|%2e){1,2}$", re.IGNORECASE)


class HttpConnection(Connection):
    """`type: http` — any JSON API; `headers` (e.g. Authorization) go with every request."""

    type: Literal["http"]
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return _no_line_breaks(value)


def _no_line_breaks(values: dict[str, str]) -> dict[str, str]:
    for name, value in values.items():
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            raise ValueError(f"header '{name.strip()}' contains a line break")
    return values


class Request(Params):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str
    query: dict[str, str | int | float | bool] | None = None
    body: Any = Field(default=None, alias="json")  # `json` is BaseModel's, so the alias
    headers: dict[str, str] | None = None

    @field_validator("path")
    @classmethod
    def _stays_under_base(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError("must start with '/' (it is appended to the connection's base_url)")
        if "//" in path or "\\" in path or "@" in path or ":" in path.split("/", 2)[1]:
            raise ValueError("must not contain '//', '\\', '@' or a scheme")
        if "?" in path or "#" in path:
            raise ValueError("must not contain '?' or '#'; use `query:` for parameters")
        if any(_DOT_SEGMENT.match(segment) for segment in path.split("/")):
            raise ValueError("must not contain '.' or '..' segments")
        return path

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else _no_line_breaks(value)


def _request(c: HttpConnection, p: Request, key: str) -> Single:
    query = tuple((k, _query_text(v)) for k, v in (p.query or {}).items())
    return Single(PlannedRequest(p.method, c.base_url + p.path, p.body, query=query))


def _query_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def _headers(call: ActionCall[HttpConnection, Request]) -> dict[str, str]:
    """The action's headers, then the connection's, which win (credentials stay in control)."""
    return {**(call.params.headers or {}), **call.connection.headers}


OPERATIONS: dict[str, Operation[HttpConnection, Any, Any]] = {
    "request": Operation(Request, _request, "call an HTTP endpoint", frozenset({"path"})),
}

HTTP = ConnectionType(HttpConnection, OPERATIONS, _headers, result_from)
