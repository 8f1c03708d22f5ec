"""Enrichment: fetch the process and process item that `process.*` / `processItem.*` refer to.

Fetched at most once per event attempt, only the roots a candidate rule needs, through the
rules' enrichment connection (the first of type kuflow, or `enrichment: {connection: NAME}`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from handlers.clients.base import Session
from handlers.clients.kuflow import KuflowConnection, auth_headers, enrichment_requests
from handlers.clients.send import json_body, send
from handlers.rules.model import RuleSet


async def fetch(
    rules: RuleSet, session: Session, event: Mapping[str, Any], roots: set[str]
) -> dict[str, Any]:
    """The fetched objects by root; a root the event cannot have (no processItemId) is left out.

    Raises:
        TransientError: KuFlow did not answer; the event is tried again later.
        PermanentError: KuFlow refused (401, 403, 404 …); the event is dead-lettered.
    """
    if not roots or rules.enrichment_connection is None:
        return {}
    raw = event.get("data")
    data: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    process_id, item_id = data.get("processId"), data.get("processItemId")
    if not isinstance(process_id, str):
        return {}
    connection = cast(KuflowConnection, rules.connections[rules.enrichment_connection])
    requests = enrichment_requests(
        connection, process_id, item_id if isinstance(item_id, str) else None
    )
    fetched: dict[str, Any] = {}
    for root in sorted(roots & set(requests)):
        # A 404 is a failure like any other, not "no match": a wrong base_url (say, without
        # KuFlow's version segment) would otherwise switch off every rule on process.* silently.
        headers = auth_headers(connection)
        response = await send(session.http, requests[root], headers, rules.timeout_s)
        fetched[root] = json_body(response)
    return fetched
