"""Secrets out of every record: one process-wide list of values that must never be written.

Whatever the router stores or prints from an outside source — an API's error text, a request it
sent, a log line — passes through `redact` first: the event record, the dead-letter queue, the
logs and the CLI's output. The rules loader registers the credentials of `connections:` and
every `${VAR}` value; the settings register the Redis password and the webhook credentials; a
client registers a token it obtained (Alteryx's OAuth2 access token). A value is also caught in
its JSON-escaped and URL-encoded spellings, so an API that echoes it back inside a JSON string
or a query is redacted too.

Values shorter than `MIN_LENGTH` are not registered: blanking a short word everywhere would
garble ordinary text, and no credential worth the name is that short.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote

MASK = "[redacted]"
MIN_LENGTH = 8

_lock = threading.Lock()
_slots: dict[str, set[str]] = {}
_pattern: re.Pattern[str] | None = None


def _spellings(value: str) -> set[str]:
    return {value, json.dumps(value)[1:-1], quote(value, safe=""), quote(value)}


def register(values: Iterable[str | None], slot: str = "") -> None:
    """Add secrets to redact from now on (a value too short to be one is ignored).

    Values registered under a named `slot` replace that slot's earlier ones: a renewed access
    token takes the place of the expired one instead of piling up.
    """
    global _pattern
    added = {
        spelling
        for value in values
        if value and len(value) >= MIN_LENGTH
        for spelling in _spellings(value)
    }
    with _lock:
        kept = _slots.get(slot, set())
        if (added <= kept) if not slot else (added == kept):
            return
        _slots[slot] = added if slot else kept | added
        every = set().union(*_slots.values())
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted(every, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None


def redact(text: str) -> str:
    """`text` with every registered secret replaced by `MASK`."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def redact_url(url: str) -> str:
    """A URL with its password (`scheme://user:PASSWORD@host`, `?password=`) masked, for
    printing."""
    url = re.sub(r"(://[^/@:]*:)[^/@]*@", rf"\1{MASK}@", url)
    return re.sub(r"([?&]password=)[^&#]*", rf"\1{MASK}", url)


def forget() -> None:
    """Drop every registered secret (tests start each case from none)."""
    global _pattern
    with _lock:
        _slots.clear()
        _pattern = None
