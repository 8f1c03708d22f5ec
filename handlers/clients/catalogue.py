"""The action catalogue: every connection type and its operations, in one table.

`<connection>.<operation>` in rules.yaml resolves here: the connection's `type` picks an entry,
and the entry's `operations` name what the connection can do. Adding an API = its module in
`handlers/clients/` (settings and parameters described on their fields, credentials marked
`Secret`, its demo stand-in), one line below, and its test double; adding an operation = one
entry in its module's `OPERATIONS` (with a `run` function only when one request is not enough).
"""

from __future__ import annotations

from typing import Any

from handlers.clients.alteryx import ALTERYX
from handlers.clients.base import ActionCall, ActionResult, ConnectionType, Operation
from handlers.clients.http import HTTP
from handlers.clients.kuflow import KUFLOW
from handlers.clients.nerm import NERM
from handlers.clients.send import json_body, send
from handlers.clients.ultracart import ULTRACART

CONNECTION_TYPES: dict[str, ConnectionType[Any]] = {
    "kuflow": KUFLOW,
    "ultracart": ULTRACART,
    "alteryx": ALTERYX,
    "nerm": NERM,
    "http": HTTP,
}
# The operations that post a chat message, by name (`slack`, `teams`).
CHAT_OPERATIONS = frozenset(
    name for kind in CONNECTION_TYPES.values() for name, op in kind.operations.items() if op.chat
)


async def run_action(
    operation: Operation[Any, Any, Any], call: ActionCall[Any, Any]
) -> ActionResult:
    """One try of an action: its own runner, or the one planned request with the type's auth.

    Raises:
        TransientError, PermanentError: the call failed (see handlers.clients.errors).
        Pending: the action started something to check on later.
    """
    plan = operation.plan(call.connection, call.params, call.key)
    if operation.run is not None:
        return await operation.run(plan, call)
    kind = CONNECTION_TYPES[call.connection.type]
    response = await send(call.session.http, plan.request, await kind.headers(call), call.timeout_s)
    return kind.result(json_body(response))
