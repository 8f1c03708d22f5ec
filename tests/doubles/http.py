"""A generic JSON API double (a CRM): accepts any JSON under /api, answers with a new id."""

from __future__ import annotations

import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.doubles.server import Double

TOKEN = "crm-token"


class HttpDouble(Double):
    def __init__(self) -> None:
        route = Route(
            "/api/{path:path}", self._any, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]
        )
        super().__init__(Starlette(routes=[route]))

    @property
    def base_url(self) -> str:
        return f"{self.url}/api"

    async def _any(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"message": "Unauthorized"}, status_code=401)
        return JSONResponse({"id": str(uuid.uuid4()), "path": request.url.path}, status_code=201)
