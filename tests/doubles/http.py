"""A generic JSON API double (a CRM): accepts any JSON under /api, answers with a new id."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from tests.doubles.server import Double

TOKEN = "crm-token"


async def _any(scope: Scope, receive: Receive, send: Send) -> None:
    # A plain ASGI app rather than a route: a path may hold any decoded character (a CR, a LF)
    # and must still reach it, as it would reach a real API.
    request = Request(scope, receive)
    response: Response
    if not request.url.path.startswith("/api/"):
        response = JSONResponse({"message": "Not found"}, status_code=404)
    elif request.headers.get("authorization") != f"Bearer {TOKEN}":
        response = JSONResponse({"message": "Unauthorized"}, status_code=401)
    else:
        response = JSONResponse(
            {"id": str(uuid.uuid4()), "path": request.url.path}, status_code=201
        )
    await response(scope, receive, send)


class HttpDouble(Double):
    def __init__(self) -> None:
        super().__init__(_any)  # type: ignore[arg-type]

    @property
    def base_url(self) -> str:
        return f"{self.url}/api"
