"""`redact:` — the values of some paths (`data.…` of the event, `process.…` and `processItem.…`
of what is read from KuFlow) that the router must not keep. The actions still get them; every
copy the router keeps — the event's record (its body, what was read from KuFlow, each try's
exchanges), the dead-letter queue, the console, the logs, the alerts — shows `[redacted]`
instead: the documents are masked at these paths, and the values themselves are masked
wherever else they appear during the run (`common.redact.for_this_run`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from common.redact import MASK


def _walk(document: Any, parts: list[str]) -> Iterable[tuple[dict[str, Any], str]]:
    """(the mapping holding it, its key) for each place `parts` names; a list on the way is
    walked item by item."""
    if isinstance(document, list):
        for item in document:
            yield from _walk(item, parts)
        return
    if not isinstance(document, dict) or parts[0] not in document:
        return
    if len(parts) == 1:
        yield document, parts[0]
    else:
        yield from _walk(document[parts[0]], parts[1:])


def _leaves(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def values(paths: Iterable[str], documents: Mapping[str, Any]) -> list[str]:
    """Every value at `paths` in `documents` (`{"data": …, "process": …, "processItem": …}`),
    the leaves of a mapping or list at one of them included."""
    found: list[str] = []
    for path in paths:
        for holder, key in _walk(dict(documents), path.split(".")):
            found.extend(_leaves(holder[key]))
    return found


def masked(paths: Iterable[str], document: Mapping[str, Any], root: str) -> dict[str, Any]:
    """A copy of `document` with the values at `paths` under `root` replaced by the mask:
    `root` `data` for the event (whose `data` it holds), `process` or `processItem` for what
    was read of that."""
    out = copy.deepcopy(dict(document))
    for path in paths:
        head, _, rest = path.partition(".")
        if head == root:
            parts = path.split(".") if root == "data" else rest.split(".")
            for holder, key in _walk(out, parts):
                holder[key] = MASK
    return out
