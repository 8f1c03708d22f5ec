"""The action catalogue: every connection type and its operations, in one table.

`<connection>.<operation>` in rules.yaml resolves here: the connection's `type` picks an entry,
and the entry's `operations` name what the connection can do. Adding an API = one module in
`handlers/clients/` and one line below; adding an operation = one entry in its module's
`OPERATIONS`.
"""

from __future__ import annotations

from handlers.clients.alteryx import ALTERYX
from handlers.clients.base import ActionCall, ActionResult, ConnectionType, Operation
from handlers.clients.http import HTTP
from handlers.clients.kuflow import KUFLOW
from handlers.clients.nerm import NERM
from handlers.clients.send import json_body, send
from handlers.clients.ultracart import ULTRACART

CONNECTION_TYPES: dict[str, ConnectionType] = {
    "kuflow": KUFLOW,
    "ultracart": ULTRACART,
    "alteryx": ALTERYX,
    "nerm": NERM,
    "http": HTTP,
}


async def run_action(operation: Operation, call: ActionCall) -> ActionResult:
    """One try of an action: its own runner, or the one planned request with the type's auth.

    Raises:
        TransientError, PermanentError: the call failed (see handlers.clients.errors).
        Pending: the action started something to check on later.
    """
    if operation.run is not None:
        return await operation.run(operation, call)
    kind = CONNECTION_TYPES[call.connection.type]
    (request,) = operation.plan(call.connection, call.params, call.key)
    response = await send(call.session.http, request, await kind.headers(call), call.timeout_s)
    return kind.result(json_body(response))
