"""The stand-ins of every connection type, served at `/demo-api/{type}/…` by `run --demo`.

Each connection type brings its own stand-in (`ConnectionType.stand_in` in handlers/clients/):
it accepts what the router's clients send, answers in the API's shape (from the same documents
as the test doubles, but lenient: no credential or body checks) and keeps what is created in
memory so later reads agree. This serves them and logs one line per request: the method, the
path and the JSON body.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from handlers.clients.catalogue import CONNECTION_TYPES

log = logging.getLogger("kuflow_router.demo")

PREFIX = "/demo-api"


class DemoApis:
    """The stand-ins' memory: what each API was given, by connection type."""

    def __init__(self) -> None:
        self.memory: dict[str, dict[str, Any]] = {kind: {} for kind in CONNECTION_TYPES}

    async def handle(self, request: Request) -> JSONResponse:
        api, path = request.path_params["api"], request.path_params["path"]
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")  # a form (Alteryx's token request)
        if api not in CONNECTION_TYPES:
            return JSONResponse({"message": f"no demo API '{api}'"}, status_code=404)
        shown = json.dumps(body, ensure_ascii=False) if isinstance(body, dict | list) else ""
        log.info("demo %s API received %s /%s %s", api, request.method, path, shown[:500])
        parts = [part for part in path.split("/") if part]
        status, answer = CONNECTION_TYPES[api].stand_in(
            self.memory[api], request.method, parts, body
        )
        return JSONResponse(answer, status_code=status)


def routes(apis: DemoApis) -> list[Route]:
    """The stand-ins' routes, to add to the router's own app."""
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return [Route(PREFIX + "/{api}/{path:path}", apis.handle, methods=methods)]
