"""A console over a real pipeline: events sent through the receiver and run by a real worker
against the KuFlow double, then looked at through the console's own HTTP interface."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.access import Person
from console.app import create_console
from tests.conftest import serve_app
from tests.doubles import http as crm_double
from tests.doubles.http import HttpDouble
from tests.doubles.kuflow import CLIENT_ID, CLIENT_SECRET, KuflowDouble
from tests.e2e.harness import Pipeline, pipeline

ADMIN = "console-admin-token-0123456789"
RULES = f"""\
version: 1
verify: false
defaults: {{retry: {{attempts: 2, initial: 10ms, max: 20ms}}}}
connections:
  kuflow: {{type: kuflow, base_url: "KUFLOW_URL", client_id: {CLIENT_ID}, client_secret: {CLIENT_SECRET}}}
  crm: {{type: http, base_url: "CRM_URL", headers: {{Authorization: "Bearer {crm_double.TOKEN}"}}}}
"""
RULES += """\
rules:
  - name: open-review
    description: A task for every new process
    when: {type: PROCESS.CREATED}
    do:
      - kuflow.create_task: {process_id: "{{ data.processId }}", task_code: REVIEW}
  - name: notify-crm
    when: {type: PROCESS.CREATED}
    do:
      - crm.request: {method: POST, path: /contacts, json: {process: "{{ data.processId }}"}}
  - name: on-completion
    when: {type: PROCESS.STATE_CHANGED, data.processState: COMPLETED}
    do:
      - crm.request: {method: POST, path: /done, json: {process: "{{ data.processId }}"}}
"""


VIEWER_TOKEN = "support-desk-token-0123456789"
OPERATOR_TOKEN = "ops-lead-token-0123456789ab"
PEOPLE = [(Person("admin", "admin"), ADMIN), (Person("ops-lead", "operator"), OPERATOR_TOKEN),
          (Person("support-desk", "viewer"), VIEWER_TOKEN)]  # fmt: skip


@dataclass
class Stand:
    """The pipeline and a console client over the same Redis and rules."""

    router: Pipeline
    console: httpx.AsyncClient

    async def login(self, token: str = ADMIN) -> httpx.Response:
        return await self.console.post("/login", data={"token": token, "next": "/"})

    async def csrf(self, page: str = "/") -> str:
        text = (await self.console.get(page)).text
        marker = 'name="csrf" value="'
        start = text.index(marker) + len(marker)
        return text[start : text.index('"', start)]


@pytest.fixture
def make_stand(
    redis_url: str, kuflow: KuflowDouble, crm: HttpDouble, tmp_path: Path
) -> Callable[..., Any]:
    @asynccontextmanager
    async def build(
        token: str | list[tuple[Person, str]] | None = ADMIN, trace_url: str = "", rules: str = ""
    ) -> AsyncIterator[Stand]:
        path = tmp_path / "rules.yaml"
        text = RULES.replace("KUFLOW_URL", kuflow.url).replace("CRM_URL", crm.base_url)
        path.write_text(text + rules)
        async with pipeline(redis_url, path) as router:
            app = create_console(router.redis, router.rules, token, 3600, trace_url=trace_url)
            async with serve_app(app) as client:
                yield Stand(router, client)

    return build
