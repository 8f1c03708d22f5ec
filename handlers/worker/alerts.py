"""Alerts: telling someone, through rules.yaml's `alerts:`, that a failure opened or reopened
(an action was dead-lettered for a cause the router had no open failure for: store/failures.py),
a connection's breaker opened or closed, or a rules reload failed.

Each alert is sent in the background — one try, with its action's timeout — so it never holds
up a job; its own failure is logged and counted (`router_alerts_total{outcome="failed"}`), never
alerted on. A failure alerts each time it opens or reopens (a person resolved it in between), in
one worker only (its opening is one script). Breakers and reloads: across every worker, at most
one alert per (alert, cause) per `window` — a breaker's cause is its connection and what it
became, a reload's the rules file — and later ones within the window are folded into a count
that the next alert sent for that cause reports (`{{ alert.count }}`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from uuid import NAMESPACE_URL, uuid5

from redis.asyncio import Redis

from common.redact import redact
from handlers.clients.base import ActionCall, Session
from handlers.clients.catalogue import CHAT_OPERATIONS, run_action
from handlers.clients.errors import ActionFailed
from handlers.rules import evaluate
from handlers.rules.model import Alert
from handlers.rules.reload import LiveRules
from handlers.rules.template import render
from handlers.worker import metrics
from store.alerts import open_window

log = logging.getLogger("kuflow_router.alerts")

CLOSE_WAIT_S = 5.0  # on shutdown, alerts still being sent get this long


# What an event supplies (its id, type, process id) is shown only when it is a plain word: a
# forged type could otherwise carry chat markup (`<!channel>`) or a wall of text into an alert.
_PLAIN = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
NOT_SHOWN = "(not shown: not a plain word)"
MAX_ERROR_CHARS = 500


def from_event(value: str) -> str:
    """An event-supplied value as alerts show it: a plain word of up to 100 characters, or not
    at all."""
    return value if not value or _PLAIN.fullmatch(value) else NOT_SHOWN


def chat_safe(text: str) -> str:
    """`text` with what Slack and Teams read as markup escaped (`<!channel>` mentions no one)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


TITLES = {
    "dead_letter": "kuflow-router: an action was dead-lettered",
    "breaker_opened": "kuflow-router: a connection is open",
    "breaker_closed": "kuflow-router: a connection is closed again",
    "reload_failed": "kuflow-router: the rules reload failed",
}


def default_text(kind: str, fields: Mapping[str, Any]) -> str:
    """The router's own words for an alert, when `text:` does not give them."""
    if kind == "dead_letter":
        text = (
            f"Dead-lettered: rule '{fields['rule']}', action {fields['action']} on event "
            f"{fields['event_id']} ({fields['event_type']}) after {fields['attempts']} "
            f"attempt(s): {fields['error']}"
        )
        if fields.get("failure"):
            text += (f" — failure {fields['failure']} reopened (it was resolved)"
                     if fields.get("failure_change") == "reopened" else
                     f" — new failure {fields['failure']}; more like it are counted there, not "
                     "alerted")  # fmt: skip
    elif kind == "breaker_opened":
        text = (
            f"Connection '{fields['connection']}' is open after failures in a row; its calls "
            f"wait, spending no attempts, until a probe succeeds. Last error: {fields['error']}"
        )
    elif kind == "breaker_closed":
        text = f"Connection '{fields['connection']}' is closed again: its calls go through."
    else:
        text = f"Reloading the rules failed; the last good rules stay in use. {fields['error']}"
    if fields.get("count"):
        text += f" (and {fields['count']} more like it since the last alert)"
    if fields.get("link"):
        text += f" {fields['link']}"
    return text


class Alerts:
    """Sends the alerts of the rules in use; one per worker process."""

    def __init__(
        self,
        redis: Redis,
        session: Session,
        rules: LiveRules,
        console_url: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._session = session
        self._rules = rules
        self._console_url = console_url.rstrip("/")
        self._clock = clock
        self._sending: set[asyncio.Task[None]] = set()

    def dead_letter(
        self,
        event: Mapping[str, Any],
        rule: str,
        action: str,
        attempts: int,
        error: Exception | str,
        failure: tuple[str, str],
    ) -> None:
        """An action (or the whole event: rule `*`) went to the dead-letter queue; `failure`: its
        failure's id and what the dead letter did to it (store/failures.py). Only a failure that
        opened or reopened alerts: later dead letters of an open or acknowledged one count in
        it, unsent."""
        failure_id, change = failure
        if not change:
            for alert in self._rules.current.alerts:
                if "dead_letter" in alert.when:
                    metrics.ALERTS.labels(alert.name, "folded").inc()
            return
        status = error.status if isinstance(error, ActionFailed) else 0
        data = event.get("data")
        event_id = str(event.get("id", ""))
        fields = {
            "rule": rule, "action": action, "error": str(error), "status": status,
            "event_id": from_event(event_id), "event_type": from_event(str(event.get("type", ""))),
            "process_id": from_event(str(data.get("processId", "")))
            if isinstance(data, dict) else "",
            "attempts": attempts, "failure": failure_id, "failure_change": change,
            "link": f"{self._console_url}/events/{quote(event_id, safe='')}"
            if self._console_url and event_id else "",
            "failure_link": f"{self._console_url}/failures/{failure_id}"
            if self._console_url else "",
        }  # fmt: skip
        self._raise("dead_letter", failure_id, fields)

    def breaker(self, connection: str, transition: str, error: Exception | None) -> None:
        """A connection's breaker opened or closed."""
        kind = f"breaker_{transition}"
        fields = {"connection": connection, "error": str(error or ""),
                  "link": f"{self._console_url}/" if self._console_url else ""}  # fmt: skip
        self._raise(kind, f"{connection}\n{transition}", fields)

    def reload_failed(self, problems: list[str]) -> None:
        """The rules file changed and is invalid: the last good rules stay in use."""
        shown = "; ".join(problems[:3]) + (
            f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        )
        self._raise("reload_failed", str(self._rules.path), {"error": shown})

    def _raise(self, kind: str, cause: str, fields: dict[str, Any]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the worker's loop: nothing can be sent from here
            log.warning("alert not sent: no event loop", extra={"kind": kind})
            return
        for alert in self._rules.current.alerts:
            if kind in alert.when:
                task = loop.create_task(self._send(alert, kind, cause, fields))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)

    async def _send(self, alert: Alert, kind: str, cause: str, fields: dict[str, Any]) -> None:
        now_ms = int(self._clock() * 1000)
        digest = hashlib.sha256(cause.encode()).hexdigest()[:16]
        extra = {"alert": alert.name, "kind": kind}
        try:
            folded = 0
            if kind != "dead_letter":  # a failure alerts once per opening: no window needed
                window_ms = int(alert.window_s * 1000)
                folded = await open_window(self._redis, alert.name, digest, window_ms, now_ms)
                if folded < 0:
                    metrics.ALERTS.labels(alert.name, "folded").inc()
                    return
            await self._call(alert, kind, {**fields, "count": folded}, f"{digest}/{now_ms}")
        except Exception as exc:  # an alert's failure must never fail anything else
            metrics.ALERTS.labels(alert.name, "failed").inc()
            log.error("alert not sent: %s", redact(str(exc)), extra=extra)
            return
        metrics.ALERTS.labels(alert.name, "sent").inc()
        log.info("alert sent", extra=extra)

    async def _call(self, alert: Alert, kind: str, fields: dict[str, Any], key: str) -> None:
        at = datetime.fromtimestamp(self._clock(), UTC).isoformat(timespec="seconds")
        blank = ("rule", "action", "connection", "error", "event_id", "event_type", "process_id",
                 "link", "failure", "failure_change", "failure_link")  # fmt: skip
        values: dict[str, Any] = dict.fromkeys(blank, "")
        values.update({"status": 0, "attempts": 0, **fields, "kind": kind, "at": at,
                       "title": TITLES[kind]})  # fmt: skip
        error = redact(str(values["error"]))
        if len(error) > MAX_ERROR_CHARS:
            error = error[:MAX_ERROR_CHARS] + "…"
        # An error may quote what an event or an API said: no markup of theirs reaches a chat.
        chat = alert.action.operation_name in CHAT_OPERATIONS
        values["error"] = chat_safe(error) if chat else error
        text = default_text(kind, values)
        if alert.text is not None:
            text = str(
                render(alert.text, {"alert": {**values, "text": text}}, f"alert '{alert.name}'")
            )
        context = {"alert": {**values, "text": text}}
        action = alert.action
        params = evaluate.prepare(f"alert '{alert.name}'", action, context)
        call = ActionCall(
            session=self._session,
            connection_name=action.connection,
            connection=self._rules.current.connections[action.connection],
            params=params,
            key=str(uuid5(NAMESPACE_URL, f"kuflow-router/alert/{alert.name}/{key}")),
            timeout_s=action.timeout_s,
        )
        await run_action(action.operation, call)

    async def close(self) -> None:
        """Give alerts still being sent a few seconds, then cancel them."""
        if not self._sending:
            return
        _, late = await asyncio.wait(set(self._sending), timeout=CLOSE_WAIT_S)
        for task in late:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
