"""Generic HTTP: `request` against a connection's fixed `base_url`; `slack` and `teams` post a
message to a Slack incoming webhook or a Microsoft Teams workflow webhook.

The path is a template whose values are URL-encoded, and the rendered path may not leave the
base path: `..` or `.` segments, `//`, a backslash, `@` or a scheme are refused, so event data
can never choose where a request goes.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from handlers.clients.base import (
    ActionCall,
    ActionResult,
    Connection,
    ConnectionType,
    Operation,
    PlannedRequest,
    Reply,
    SecretMark,
    Single,
    result_from,
)
from handlers.clients.params import Params
from handlers.clients.send import send

_DOT_SEGMENT = re.compile(r"^(\.|%2e){1,2}$", re.IGNORECASE)


class HttpConnection(Connection):
    """`type: http` — any JSON API; `headers` (e.g. Authorization) go with every request."""

    type: Literal["http"]
    headers: Annotated[dict[str, str], SecretMark()] = Field(
        default_factory=dict,
        description="Headers sent with every request of this connection (e.g. Authorization); "
        "they win over an action's own headers.",
    )

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return _no_line_breaks(value)


def _no_line_breaks(values: dict[str, str]) -> dict[str, str]:
    for name, value in values.items():
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            raise ValueError(f"header '{name.strip()}' contains a line break")
    return values


def _under_base(path: str) -> str:
    """`path` if appending it to a base_url cannot leave that base."""
    if not path.startswith("/"):
        raise ValueError("must start with '/' (it is appended to the connection's base_url)")
    if "//" in path or "\\" in path or "@" in path or ":" in path.split("/", 2)[1]:
        raise ValueError("must not contain '//', '\\', '@' or a scheme")
    if "?" in path or "#" in path:
        raise ValueError("must not contain '?' or '#'; use `query:` for parameters")
    if any(_DOT_SEGMENT.match(segment) for segment in path.split("/")):
        raise ValueError("must not contain '.' or '..' segments")
    return path


class Request(Params):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(
        description="GET, POST, PUT, PATCH or DELETE."
    )
    path: str = Field(
        description="Appended to the connection's base_url; must start with / and cannot leave "
        "it. Template values are URL-encoded."
    )
    query: dict[str, str | int | float | bool] | None = Field(
        default=None, description="Query parameters by name."
    )
    # `json` is BaseModel's, so the alias
    body: Any = Field(default=None, alias="json", description="The JSON body.")
    headers: dict[str, str] | None = Field(
        default=None, description="Headers of this request; the connection's own headers win."
    )

    @field_validator("path")
    @classmethod
    def _stays_under_base(cls, path: str) -> str:
        return _under_base(path)

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


class Message(Params):
    text: str = Field(min_length=1, description="The message's text.")
    path: str = Field(  # the webhook's URL is usually the whole base_url
        default="",
        description="Appended to the connection's base_url; must start with / and cannot leave "
        "it. Template values are URL-encoded.",
    )

    @field_validator("path")
    @classmethod
    def _stays_under_base(cls, path: str) -> str:
        return _under_base(path) if path else path


def _slack(c: HttpConnection, p: Message, key: str) -> Single:
    """Slack's incoming webhook: `{"text": …}`, answered with the text `ok`."""
    return Single(PlannedRequest("POST", c.base_url + p.path, {"text": p.text}))


def _teams(c: HttpConnection, p: Message, key: str) -> Single:
    """A Teams workflow webhook ("Post to a channel when a webhook request is received"):
    a message with one Adaptive Card holding the text, answered 202 with no body."""
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [{"type": "TextBlock", "text": p.text, "wrap": True}],
    }
    message = {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
             "content": card}
        ],
    }  # fmt: skip
    return Single(PlannedRequest("POST", c.base_url + p.path, message))


async def _post_message(plan: Single, call: ActionCall[HttpConnection, Message]) -> ActionResult:
    """Post; a chat webhook answers in plain text (or nothing), so only the status counts."""
    response = await send(call.session.http, plan.request, call.connection.headers, call.timeout_s)
    return ActionResult(None, {"status": response.status})


OPERATIONS: dict[str, Operation[HttpConnection, Any, Any]] = {
    "request": Operation(Request, _request, "call an HTTP endpoint", frozenset({"path"})),
    "slack": Operation(Message, _slack, "post a message to a Slack incoming webhook",
                       frozenset({"path"}), run=_post_message, chat=True),
    "teams": Operation(Message, _teams, "post a message to a Microsoft Teams workflow webhook",
                       frozenset({"path"}), run=_post_message, chat=True),
}  # fmt: skip


def _stand_in(memory: dict[str, Any], method: str, parts: list[str], body: Any) -> Reply:
    """Any JSON API for `run --demo`: everything is created, with a new id."""
    return 201, {"id": str(uuid.uuid4())}


HTTP = ConnectionType(HttpConnection, OPERATIONS, _headers, result_from, _stand_in)
