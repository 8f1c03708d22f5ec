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
from contextvars import ContextVar
from urllib.parse import quote

MASK = "[redacted]"
MIN_LENGTH = 8
MIN_RUN_LENGTH = 4  # a value of `redact:` (a short code, a PIN) is masked from this length

# One run's values of `redact:` (handlers/rules/redaction.py): set in the run's task, so they
# mask what that run (and what it starts: its alerts) writes, and no other run.
_run_pattern: ContextVar[re.Pattern[str] | None] = ContextVar("redact_run", default=None)

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


def for_this_run(values: Iterable[str]) -> None:
    """Mask these values too — `redact:`'s, of the event being run — in whatever this task
    (and the tasks it starts) passes through `redact`."""
    spellings = {s for v in values if len(v) >= MIN_RUN_LENGTH for s in _spellings(v)}
    ordered = sorted(spellings, key=len, reverse=True)
    _run_pattern.set(re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None)


def redact(text: str) -> str:
    """`text` with every registered secret (and this run's `redact:` values) replaced by
    `MASK`."""
    if not text:
        return text
    pattern, run = _pattern, _run_pattern.get()
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return run.sub(MASK, text) if run is not None else text


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
