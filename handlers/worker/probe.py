"""At start, ask each kuflow connection whether it answers like KuFlow — and say so if not.

A wrong `base_url` (say, without KuFlow's `/v2024-06-14`) or refused credentials would otherwise
show only when the first event fails. The probe is `GET {base_url}/processes?size=1`, KuFlow's
cheapest authenticated read; its outcome is logged — a warning, never a refusal to start, since
a worker may well start while KuFlow or the network is down.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from handlers.clients.base import PlannedRequest, url
from handlers.clients.errors import ActionFailed
from handlers.clients.kuflow import KuflowConnection, auth_headers
from handlers.clients.network import Client
from handlers.clients.send import json_body, send
from handlers.rules.model import RuleSet

log = logging.getLogger("kuflow_router.worker")

TIMEOUT_S = 5.0


def _looks_like_a_page(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("content"), list) and "metadata" in body


async def probe_kuflow(http: Client, name: str, c: KuflowConnection) -> str | None:
    """None when the connection answers like KuFlow, else what is wrong and what to check."""
    request = PlannedRequest("GET", url(c.base_url, "/processes"), query=(("size", "1"),))
    try:
        body = json_body(await send(http, request, auth_headers(c), TIMEOUT_S))
    except ActionFailed as exc:
        if exc.status in (401, 403):
            hint = "check client_id and client_secret (and `auth:`)"
        elif exc.status == 404:
            hint = "check base_url: KuFlow's ends in its API version, e.g. /v2024-06-14"
        elif exc.status:
            hint = "KuFlow may be having trouble; events will be retried"
        else:
            hint = "offline, or a wrong host? events will be retried"
        return f"kuflow connection '{name}' did not answer like KuFlow: {exc} — {hint}"
    if not _looks_like_a_page(body):
        return (
            f"kuflow connection '{name}': GET {request.full_url} did not answer with a page of "
            "processes — check base_url: it should be KuFlow's API root, e.g. "
            "https://api.kuflow.com/v2024-06-14"
        )
    return None


async def check_connections(http: Client, rules: RuleSet) -> list[str]:
    """Probe every kuflow connection at once; log and return the warnings."""
    kuflow = {n: c for n, c in rules.connections.items() if isinstance(c, KuflowConnection)}
    found = await asyncio.gather(*(probe_kuflow(http, n, c) for n, c in kuflow.items()))
    warnings = [w for w in found if w]
    for warning in warnings:
        log.warning(warning)
    for name in sorted(set(kuflow) - {n for n, w in zip(kuflow, found, strict=True) if w}):
        log.info("kuflow connection '%s' answers like KuFlow", name)
    return warnings
