"""What each connection setting and operation parameter means, in the words an editor shows on
hover (the JSON Schema, `rules.schema.json`). Keyed by `(connection type, name)`, or by the name
alone where it means the same everywhere; a test checks that nothing is left undescribed."""

from __future__ import annotations

SETTINGS = {
    "type": "The kind of API: kuflow, ultracart, alteryx, nerm or http.",
    "base_url": "The API's root URL; every request of this connection starts with it. "
    "Event data can never change it.",
    "client_id": "The application's client id (KuFlow: Settings → Applications; Alteryx: the "
    "user's API key).",
    "client_secret": "The application's secret. Write ${NAME} and put the value in the "
    "environment, never in this file.",
    "auth": "How KuFlow credentials are sent: bearer (KuFlow's SDKs) or basic.",
    "api_key": "UltraCart's simple API key (Configuration → API Keys), sent as "
    "x-ultracart-simple-key. Use ${NAME}.",
    "token": "The NERM API token, sent as a Bearer token. Use ${NAME}.",
    "headers": "Headers sent with every request of this connection (e.g. Authorization); they "
    "win over an action's own headers.",
    "limits": "How hard every worker together may use this API: {rate: 20/s, burst: 40, "
    "concurrency: 5}. An action over a limit waits for its turn; that is not an attempt.",
    "breaker": "The circuit breaker: after open_after transient failures in a row, calls wait "
    "(spending no attempts) for cooldown, then one probe decides. false turns it off.",
}

# The keys inside `limits:` and `breaker:`.
POLICY = {
    "rate": "At most this many calls: 20/s, 100/m or 1000/h, shared by every worker.",
    "burst": "How many calls may go at once after a quiet spell (default: one second's worth "
    "of the rate).",
    "concurrency": "At most this many calls in flight at once, across every worker.",
    "open_after": "Transient failures in a row (network, timeout, 5xx) that open the breaker "
    "(default 5). A 429 pauses instead.",
    "cooldown": "How long an open breaker holds calls before one probe call tries (default "
    "30s); it doubles while probes fail.",
    "max_cooldown": "The longest the cooldown grows to (default 10m).",
}

# The keys of an item of `alerts:`.
ALERT = {
    "name": "The alert's name, in logs, metrics and the deduplication key.",
    "when": "On what: dead_letter, breaker_opened, breaker_closed, reload_failed (default: all).",
    "window": "At most one alert per cause in this time (default 10m); the rest are counted "
    "into the next one ({{ alert.count }}).",
    "text": "The message; templates see alert.* (text, rule, action, connection, error, "
    "event_id, event_type, count, link …). Default: the router's own words.",
    "send": "One action that sends it: chat.slack: {}, chat.teams: {}, ops.request: {…}, "
    "kuflow.create_task: {…}. Its templates see alert.* only.",
}

PARAMETERS: dict[str | tuple[str, str], str] = {
    "process_id": "The KuFlow process (a UUID), e.g. {{ data.processId }}.",
    "task_id": "The KuFlow task, i.e. its process item id (a UUID), e.g. {{ data.processItemId }}.",
    "task_code": "The code of the task definition in the process definition.",
    "owner_id": "The KuFlow user (a UUID) who owns the task.",
    "owner_email": "The email of the KuFlow user who owns the task.",
    ("kuflow", "data"): "The task's form data (a mapping), as KuFlow's JSON forms expect it.",
    ("kuflow", "message"): "The log entry's text.",
    "text": "The message's text.",
    "level": "The log entry's level: INFO, WARN or ERROR.",
    "entity": "The process's entity data (a mapping) that replaces the current one, all of it: "
    "a field left out is lost (patch_process_entity changes some fields only).",
    ("kuflow", "set"): "The entity's fields to set (a mapping); the others keep their values.",
    "task_name": "The workflow task's name.",
    "task_details": "The workflow task's details.",
    "task_uuid": "The UltraCart workflow task to change (its workflow_task_uuid).",
    "object_type": "What the task is about in UltraCart: order, item, customer profile …",
    "object_id": "The id of that object (an order id, say).",
    ("ultracart", "priority"): "1 - low, 2 - medium, 3 - high or 4 - critical.",
    ("ultracart", "status"): "The workflow task's status: open, closed …",
    "due_dts": "When the task is due (an ISO 8601 time).",
    "assigned_to_user": "The UltraCart user the task is assigned to.",
    "assigned_to_group": "The UltraCart group the task is assigned to.",
    "tags": "Tags of the task (the router adds its own kr:… tag to find it again).",
    "properties": "Name/value properties of the task; values are sent as text.",
    ("alteryx", "workflow_id"): "The Alteryx Server workflow to run.",
    "questions": "The workflow's questions by name; values are sent as text.",
    ("alteryx", "priority"): "Default, Low, Medium, High or Critical.",
    "worker_tag": "Run on workers with this tag.",
    "credential_id": "The Alteryx credential the job runs as.",
    "wait": "Wait for the job to end: {until: Completed, timeout: 30m}. Without it the action "
    "ends when the job is queued.",
    "until": "What to wait for: Completed.",
    "timeout": "How long to wait at most; then the action fails.",
    ("nerm", "workflow_id"): "The NERM workflow (a UUID).",
    "requester_id": "Who asks (a UUID of a NERM user or profile).",
    "requester_type": "What the requester is: User, Profile …",
    "profile_id": "The NERM profile (a UUID) the session is about.",
    "attributes": "Attribute values by name; NERM takes text, so numbers and booleans are sent "
    "in their JSON form.",
    "run": "Run the workflow session now (true) or only save it (false).",
    "session_id": "The NERM workflow session (a UUID) to update. Or give find: instead.",
    "find": "Select the session by its fields instead of its id; exactly one must match.",
    "uid": "The profile's uid.",
    ("nerm", "status"): "The workflow session's new status.",
    "method": "GET, POST, PUT, PATCH or DELETE.",
    "path": "Appended to the connection's base_url; must start with / and cannot leave it. "
    "Template values are URL-encoded.",
    "query": "Query parameters by name.",
    "json": "The JSON body.",
    ("http", "headers"): "Headers of this request; the connection's own headers win.",
}


def setting(name: str) -> str | None:
    """The description of a connection setting."""
    return SETTINGS.get(name)


def parameter(connection_type: str, name: str) -> str | None:
    """The description of an operation's parameter (or of a field inside one)."""
    specific = PARAMETERS.get((connection_type, name))
    return specific if specific is not None else PARAMETERS.get(name)
