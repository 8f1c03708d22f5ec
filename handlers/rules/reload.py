"""The live rule set of a process: reloaded on SIGHUP and when the file changes.

A reload that fails keeps the last good rules, logs every problem and counts the failure
(`router_rules_reload_failures_total`): a bad edit never takes a running worker down. The file
is polled once a second (its inode, size and modification time), so a change — including a
Kubernetes ConfigMap's symlink swap — is picked up within two seconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from prometheus_client import Counter, Gauge

from handlers.rules.errors import RulesLoadError
from handlers.rules.loader import load_file
from handlers.rules.model import RuleSet

log = logging.getLogger("kuflow_router.rules")

RULES_LOADED = Gauge("router_rules_loaded", "Rules in the rule set in use.")
RULES_RELOAD_FAILURES = Counter(
    "router_rules_reload_failures_total",
    "Reloads of the rules file that failed (the last good rules stay in use).",
)

Stamp = tuple[int, int, int] | None
POLL_INTERVAL_S = 1.0


def _stamp(path: Path) -> Stamp:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


class LiveRules:
    """Holds the rules in use; `current` is always a complete, valid rule set."""

    def __init__(
        self,
        path: Path,
        environ: Mapping[str, str] | None = None,
        transform: Callable[[RuleSet], RuleSet] | None = None,
        before_reload: Callable[[], None] = lambda: None,
    ) -> None:
        """Load the file once; `transform` is applied to every rule set loaded (demo mode),
        `before_reload` runs before each reload (the CLI reads `.env` again).

        Raises:
            RulesLoadError: the file is invalid at start-up (every problem listed).
        """
        self.path = path
        self._environ = environ
        self._transform = transform or (lambda rules: rules)
        self._before_reload = before_reload
        self._stamp = _stamp(path)
        self.current: RuleSet = self._transform(load_file(path, environ))
        self.loaded_at = time.time()  # when `current` was loaded
        self.problems: list[str] = []  # why the last reload failed, if it did
        self._listeners: list[Callable[[RuleSet], None]] = []
        self._failure_listeners: list[Callable[[list[str]], None]] = []
        RULES_LOADED.set(len(self.current.rules))

    def on_reload(self, listener: Callable[[RuleSet], None]) -> None:
        """Call `listener` with each newly loaded rule set."""
        self._listeners.append(listener)

    def on_failure(self, listener: Callable[[list[str]], None]) -> Callable[[], None]:
        """Call `listener` with the problems of each reload that failed, until the function
        this returns is called."""
        self._failure_listeners.append(listener)
        return lambda: self._failure_listeners.remove(listener)

    def reload(self, reason: str = "requested") -> bool:
        """Load the file again; keep the last good rules if it is invalid. True on success."""
        self._stamp = _stamp(self.path)
        self._before_reload()
        try:
            rules = self._transform(load_file(self.path, self._environ))
        except RulesLoadError as exc:
            RULES_RELOAD_FAILURES.inc()
            self.problems = [problem.format(exc.filename) for problem in exc.problems]
            for problem in exc.problems:
                log.error("rules reload failed: %s", problem.format(exc.filename))
            log.error(
                "rules reload failed (%s): %d problems; still using the last good rules (%d)",
                reason,
                len(exc.problems),
                len(self.current.rules),
            )
            for failure_listener in self._failure_listeners:
                failure_listener(self.problems)
            return False
        self.current, self.loaded_at, self.problems = rules, time.time(), []
        RULES_LOADED.set(len(rules.rules))
        log.info("rules reloaded (%s): %d rules from %s", reason, len(rules.rules), self.path)
        for listener in self._listeners:
            listener(rules)
        return True

    def check(self) -> bool:
        """Reload if the file changed since the last load; True if it did reload."""
        if _stamp(self.path) == self._stamp:
            return False
        return self.reload("file changed")

    async def watch(self, interval_s: float = POLL_INTERVAL_S) -> None:
        """Poll the file until cancelled; also reload on SIGHUP (main thread's loop only)."""
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, self.reload, "SIGHUP")
        except (RuntimeError, NotImplementedError, ValueError):
            log.warning("SIGHUP reload is not available here; file changes are still watched")
        try:
            while True:
                await asyncio.sleep(interval_s)
                self.check()
        finally:
            loop.remove_signal_handler(signal.SIGHUP)
