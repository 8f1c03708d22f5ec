"""What an event's rules need from KuFlow, read once per run of its job and checked against it.

Before a job runs any action it reads from KuFlow the process or process item that candidate
rules refer to (`process.*`, `processItem.*`) — only the roots some candidate needs, through the
rules' enrichment connection (the first of type kuflow, or `enrichment: {connection: NAME}`) —
and, when verifying (`handlers/rules/verify.py`), the event's own subject, so both come from one
read. The read is a step like an action's try (`handlers/worker/tries.py`), through the
connection's gate (its limits and breaker) like any call: a failure is recorded
as `action:enrichment:0`, counted, logged, retried under the file's `defaults.retry`, and
dead-lettered once final. KuFlow's own contradiction of the event raises `Unverified`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from handlers.clients import exchanges
from handlers.clients.base import Session
from handlers.clients.errors import ActionFailed, PermanentError
from handlers.clients.kuflow import KuflowConnection, auth_headers, enrichment_requests
from handlers.clients.send import json_body, send
from handlers.rules import evaluate, redaction, verify
from handlers.rules.model import RuleSet
from handlers.rules.verify import Unverified
from handlers.worker import connections, tries
from handlers.worker.job import Job
from handlers.worker.outcomes import DONE, Step
from store import gate
from store.records import ActionState, ActionStatus

ENRICHMENT = "enrichment"  # the record's name for the read: `action:enrichment:0`
MAX_KEPT_BYTES = 64 * 1024  # what was read is kept in the record up to this size


@dataclass(frozen=True)
class Enrichment:
    """The read's step — done, or why the rules cannot be decided yet (or at all) — and what
    it fetched, by root (`process`, `processItem`)."""

    step: Step
    objects: Mapping[str, Any] = field(default_factory=dict)


async def read(
    rules: RuleSet, session: Session, event: Mapping[str, Any], roots: set[str]
) -> dict[str, Any]:
    """The fetched objects by root; a root the event cannot have (no processItemId) is left out.

    Raises:
        TransientError: KuFlow did not answer; the event is tried again later.
        PermanentError: KuFlow refused (401, 403, 404 …).
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


def _target(rules: RuleSet) -> tries.Target:
    connection = rules.enrichment_connection or "kuflow"
    return tries.Target(
        rule=ENRICHMENT,
        index=0,
        name=f"{connection} enrichment",
        connection=connection,
        operation=ENRICHMENT,
        retry=rules.retry,
        whole_event=True,
    )


async def _read(
    job: Job, target: tries.Target, roots: set[str], verifying: bool
) -> dict[str, Any] | Step:
    """The read, through the enrichment connection's gate: what it fetched, or the step it
    came to when it did not (held, retrying, dead)."""
    state = job.record.actions.get(target.field)
    admission = gate.OPEN_GATE
    if roots and job.rules.enrichment_connection:
        admission = await connections.turn(
            job, job.rules.enrichment_connection, job.rules.timeout_s
        )
        if not admission.go:
            return tries.held(job, target, admission)
    started = time.perf_counter()
    with exchanges.recording():
        try:
            fetched = await read(job.rules, job.deps.session, job.event, roots)
        except ActionFailed as exc:
            await connections.settle(job, admission, exc)
            if verifying and isinstance(exc, PermanentError) and exc.status == 404:
                raise Unverified(f"KuFlow does not know the event's subject: {exc}") from None
            return await tries.failed(job, target, state, exc, started, not admission.probe)
        await connections.settle(job, admission, None)
        if state is not None:  # an earlier failure is over: the record says so
            done = ActionState(ActionStatus.DONE, state.attempts + 1)
            job.unsaved[target.field] = tries.remember(job, target, done).encode()
    return fetched


async def fetch(job: Job, selection: evaluate.Selection) -> Enrichment:
    """What the candidate rules need from KuFlow — and, when verifying, the event's subject,
    checked against the event — before any action runs.

    Raises:
        Unverified: KuFlow's answer contradicts the event, KuFlow does not know its subject, or
            the event names no subject at all.
    """
    roots = evaluate.needed(selection)
    # Only an event some rule may act on is worth a question to KuFlow.
    verifying = job.rules.verify and selection.verified
    subject = verify.subject(job.event) if verifying else None
    if verifying and subject is None:
        raise Unverified(verify.NO_SUBJECT, verify.UNVERIFIABLE)
    if subject is not None:
        roots = roots | {subject}
    target = _target(job.rules)
    read_or_step = await _read(job, target, roots, verifying)
    if isinstance(read_or_step, Step):
        return Enrichment(read_or_step)
    fetched = read_or_step
    if fetched:
        # What the rules were decided on, for the console (and `rules diff`): with the next write.
        shown = {root: redaction.masked(job.rules.redact, doc, root)
                 if job.rules.redact and isinstance(doc, dict) else doc
                 for root, doc in fetched.items()}  # fmt: skip
        kept = json.dumps(shown, default=str)
        if len(kept) <= MAX_KEPT_BYTES:
            job.unsaved[ENRICHMENT] = kept
    if verifying:
        differs = verify.disagreement(job.event, fetched)
        if differs:
            raise Unverified(differs)
    return Enrichment(DONE, fetched)
