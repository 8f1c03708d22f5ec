"""The action catalogue: every connection type and its operations, in one table.

`<connection>.<operation>` in rules.yaml resolves here: the connection's `type` picks an entry,
and the entry's `operations` name what the connection can do. Adding an API = one module in
`handlers/clients/` and one line below; adding an operation = one entry in its module's
`OPERATIONS`.
"""

from __future__ import annotations

from handlers.clients.alteryx import ALTERYX
from handlers.clients.base import ConnectionType
from handlers.clients.http import HTTP
from handlers.clients.kuflow import KUFLOW
from handlers.clients.nerm import NERM
from handlers.clients.ultracart import ULTRACART

CONNECTION_TYPES: dict[str, ConnectionType] = {
    "kuflow": KUFLOW,
    "ultracart": ULTRACART,
    "alteryx": ALTERYX,
    "nerm": NERM,
    "http": HTTP,
}
