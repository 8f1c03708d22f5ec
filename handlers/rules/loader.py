"""Load rules.yaml into a RuleSet, reporting every problem with its `file:line:column`.

Each piece (the top level, each connection, each rule, each action) is checked on its own, so
one mistake does not hide the next; the file is accepted only when no problem was found.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path as FilePath
from typing import Any

from common import redact
from handlers.clients.base import Connection, secret_settings
from handlers.clients.catalogue import CHAT_OPERATIONS, CONNECTION_TYPES
from handlers.rules import paths
from handlers.rules.actions import ActionLoader, alert_check
from handlers.rules.errors import Problem, RulesLoadError
from handlers.rules.index import RuleIndex
from handlers.rules.match import compile_when
from handlers.rules.model import (
    Action,
    Alert,
    AlertModel,
    DefaultsModel,
    FileModel,
    RetryPolicy,
    Rule,
    RuleModel,
    RuleSet,
    Timer,
)
from handlers.rules.source import Path, Source, Withheld, read_yaml, validate
from handlers.rules.template import compile_value, expressions

# Where a `${VAR}` may be read by what must hold no secret (the console): a connection's
# settings not marked `Secret` — its address and its shape, which every dry run shows anyway.
# Not `type`: an unknown type is echoed in the error that names it.
_SHOWN = frozenset(
    name
    for kind in CONNECTION_TYPES.values()
    for name in kind.model.model_fields
    if name not in secret_settings(kind.model)
) - {"type"}


def shown_place(path: Path) -> bool:
    """Whether a `${VAR}` written at `path` holds nothing secret (a connection's base_url)."""
    return len(path) >= 3 and path[0] == "connections" and path[2] in _SHOWN


def withheld(environ: Mapping[str, str]) -> Withheld:
    """`environ` as the console reads rules with it: public settings resolved, every other
    `${VAR}` shown as `<VAR>`, never its value."""
    return Withheld(environ, shown_place)


def _secrets(source: Source, connections: Iterable[Connection]) -> frozenset[str]:
    """Every `${VAR}` value and connection credential, as sent too (e.g. `id:secret` in base64).

    A plain address (a `${VAR}` holding an http(s) URL with no user or password) is not one:
    error messages name the URL they called. Nor is a stand-in (`<NAME>` for a `${NAME}` not
    read): masking it would hide which variable a dry run would fill in.
    """
    found = {v for v in source.substituted if not re.fullmatch(r"https?://[^@\s]*", v)}
    for connection in connections:
        fields = connection.model_dump()
        for name in secret_settings(type(connection)):
            value = fields[name]
            if isinstance(value, str):
                found.add(value)
            elif isinstance(value, dict):  # the http connection's headers
                found.update(v for v in value.values() if isinstance(v, str))
        pair = f"{fields.get('client_id')}:{fields.get('client_secret')}"
        if "client_secret" in fields:
            found.add(base64.b64encode(pair.encode()).decode())
    return frozenset(found - source.stand_ins)


REDACTED_ROOTS = ("data", *paths.ENRICHMENT_ROOTS)  # what `redact:` may name


class _Loader:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.connections: dict[str, Connection] = {}
        self.broken: dict[str, str] = {}  # connections whose problems were reported: name → type
        self.defaults = DefaultsModel()
        self.actions = ActionLoader(source, self.connections, self.broken)

    def load(self, filename: str) -> RuleSet:
        data = self.source.data
        if not isinstance(data, dict):
            if not self.source.problems:
                self.source.problem((), "the file must be a mapping with `version: 1` and `rules:`")
            raise RulesLoadError(filename, self.source.problems)
        top = self._top(data)
        self.defaults = top.defaults
        for name, raw in top.connections.items():
            self._connection(name, raw)
        enrichment = self._enrichment(top)
        rules = self._rules(top.rules, enrichment)
        alerts = self._alerts(top.alerts)
        redacted = self._redact(top.redact)
        if self.source.problems:
            raise RulesLoadError(filename, self.source.problems)
        index = RuleIndex([rule.when for rule in rules])
        secrets = _secrets(self.source, self.connections.values())
        verify = top.verify and enrichment is not None
        retry = RetryPolicy().override(self.defaults.retry)
        return RuleSet(
            filename=filename,
            connections=self.connections,
            rules=tuple(rules),
            enrichment_connection=enrichment,
            index=index,
            secrets=secrets,
            verify=verify,
            retry=retry,
            timeout_s=self.defaults.timeout,
            alerts=alerts,
            redact=redacted,
        )

    def _top(self, data: dict[str, Any]) -> FileModel:
        """The top level; when it is invalid, its usable parts, so later problems still show."""
        fields = list(FileModel.model_fields)
        for key in data:
            if key not in fields:
                self.source.problem((key,), f"unknown key '{key}'{paths.suggest(key, fields)}")
        known = {k: v for k, v in data.items() if k in fields}
        top = validate(self.source, FileModel, known, ())
        if top is not None:
            return top
        connections = known.get("connections")
        rules = known.get("rules")
        usable_connections = isinstance(connections, dict) and all(
            isinstance(c, dict) for c in connections.values()
        )
        usable_rules = isinstance(rules, list) and all(isinstance(r, dict) for r in rules)
        return FileModel.model_construct(
            version=1,
            connections=connections if usable_connections else {},
            defaults=DefaultsModel(),
            enrichment=None,
            verify=True,
            rules=rules if usable_rules else [],
            alerts=[],
        )

    def _connection(self, name: str, raw: dict[str, Any]) -> None:
        at: Path = ("connections", name)
        kind = raw.get("type")
        if kind not in CONNECTION_TYPES:
            where = (*at, "type") if "type" in raw else at
            hint = paths.suggest(str(kind), CONNECTION_TYPES)
            self.source.problem(where, f"unknown connection type '{kind}'{hint}")
            return
        connection = validate(self.source, CONNECTION_TYPES[kind].model, raw, at)
        if connection is not None:
            self.connections[name] = connection
        else:
            self.broken[name] = kind

    def _enrichment(self, top: FileModel) -> str | None:
        kuflow = [n for n, c in self.connections.items() if c.type == "kuflow"]
        if top.enrichment is None:
            return kuflow[0] if kuflow else None
        chosen = top.enrichment.connection
        if chosen not in kuflow:
            self.source.problem(
                ("enrichment", "connection"),
                f"enrichment.connection '{chosen}' is not a connection of type kuflow"
                + (paths.suggest(chosen, kuflow) if kuflow else ""),
            )
        return chosen

    def _rules(self, raws: list[dict[str, Any]], enrichment: str | None) -> list[Rule]:
        rules: list[Rule] = []
        seen: dict[str, int] = {}
        for position, raw in enumerate(raws):
            at: Path = ("rules", position)
            model = validate(self.source, RuleModel, raw, at)
            if model is None:
                continue
            if model.name in seen:
                line = self.source.position(("rules", seen[model.name], "name"))[0]
                self.source.problem(
                    (*at, "name"), f"duplicate rule name '{model.name}' (also at line {line})"
                )
            seen.setdefault(model.name, position)
            rule = self._rule(model, at)
            broken_kuflow = "kuflow" in self.broken.values()
            if rule is not None and rule.needs and enrichment is None and not broken_kuflow:
                self.source.problem(
                    at,
                    f"rule '{model.name}' uses {', '.join(sorted(rule.needs))}.* but no "
                    "connection of type kuflow is defined to fetch it",
                )
            if rule is not None:
                rules.append(rule)
        return rules

    def _redact(self, raws: list[str]) -> tuple[str, ...]:
        """`redact:` paths: under the event's data or what is read from KuFlow, a field deep."""
        for position, path in enumerate(raws):
            root, _, rest = path.partition(".")
            if root not in REDACTED_ROOTS or not rest:
                self.source.problem(("redact", position), f"'{path}': write a path under "
                                    "data., process. or processItem. (e.g. "
                                    "process.entity.value.ssn)")  # fmt: skip
        return tuple(dict.fromkeys(raws))

    def _alerts(self, raws: list[dict[str, Any]]) -> tuple[Alert, ...]:
        alerts: list[Alert] = []
        seen: set[str] = set()
        for position, raw in enumerate(raws):
            at: Path = ("alerts", position)
            model = validate(self.source, AlertModel, raw, at)
            if model is None:
                continue
            if model.name in seen:
                self.source.problem((*at, "name"), f"duplicate alert name '{model.name}'")
            seen.add(model.name)
            # One try, never retried: an alert must not hold anything up (worker/alerts.py).
            action = self.actions.load(
                f"alert {model.name}", _default_text(model.send), (*at, "send"), 0, set(),
                RetryPolicy(attempts=1), self.defaults.timeout, check=alert_check,
            )  # fmt: skip
            text = None
            if model.text is not None:
                text = compile_value(self.source, model.text, (*at, "text"), alert_check)
            if action is not None:
                alerts.append(Alert(model.name, frozenset(model.when), model.window, text, action))
        return tuple(alerts)

    def _rule(self, model: RuleModel, at: Path) -> Rule | None:
        when = compile_when(self.source, model.when, (*at, "when"))
        timer, timer_ok = self._timer(model, at)
        retry = RetryPolicy().override(self.defaults.retry).override(model.retry)
        timeout = model.timeout if model.timeout is not None else self.defaults.timeout
        actions: list[Action] = []
        results: set[str] = set()
        for index, raw in enumerate(model.do):
            action = self.actions.load(
                model.name, raw, (*at, "do", index), index, results, retry, timeout,
                timer=timer is not None,
            )  # fmt: skip
            if action is not None:
                actions.append(action)
        if when is None or not timer_ok or len(actions) != len(model.do):
            return None
        needs = set(when.roots) | {
            str(e.segments[0]) for a in actions for e in expressions(a.params)
        }
        needs &= set(paths.ENRICHMENT_ROOTS)
        return Rule(model.name, model.description, when, tuple(actions), frozenset(needs),
                    verified=model.verify != "skip", timer=timer,
                    on_failure=model.on_failure)  # fmt: skip

    def _timer(self, model: RuleModel, at: Path) -> tuple[Timer | None, bool]:
        """The rule's `after:`/`unless:` compiled, and whether they are free of problems."""
        if model.after is None:
            if model.unless is not None:
                self.source.problem(
                    (*at, "unless"), "`unless:` needs `after:` — how long to wait for it, e.g. 48h"
                )
                return None, False
            return None, True
        if model.unless is None:
            return Timer(model.after), True
        before = len(self.source.problems)
        unless_at = (*at, "unless", "event")
        pattern = compile_when(self.source, model.unless.event, unless_at)
        if pattern is not None and not pattern.roots <= set(paths.ARRIVAL_ROOTS):
            roots = ", ".join(f"{r}.*" for r in sorted(pattern.roots - set(paths.ARRIVAL_ROOTS)))
            self.source.problem(
                unless_at,
                f"`unless.event` looks only at the event as it arrives (type, data.…), not at "
                f"{roots}: a timer is cancelled by what KuFlow sends, decided when it arrives",
            )
        for position, path in enumerate(model.unless.same):
            here = (*at, "unless", "same", position)
            try:
                root = str(paths.parse(path)[0])
            except ValueError as exc:
                self.source.problem(here, str(exc))
                continue
            if root not in paths.ARRIVAL_ROOTS:
                hint = paths.suggest(root, paths.ARRIVAL_ROOTS)
                self.source.problem(
                    here, f"`same` compares fields of the two events, e.g. data.processItemId; "
                    f"not '{root}'{hint}",
                )  # fmt: skip
        if len(self.source.problems) != before or pattern is None:
            return None, False
        return Timer(model.after, pattern, tuple(model.unless.same)), True


def _default_text(send: dict[str, Any]) -> dict[str, Any]:
    """A chat message without `text:` says the alert's own text."""
    names = [key for key in send if "." in key]
    if len(names) == 1 and names[0].rpartition(".")[2] in CHAT_OPERATIONS:
        params = send[names[0]]
        if params is None or (isinstance(params, dict) and "text" not in params):
            return {**send, names[0]: {**(params or {}), "text": "{{ alert.text }}"}}
    return send


def load_text(text: str, filename: str, environ: Mapping[str, str] | None = None) -> RuleSet:
    """Load rules from YAML text.

    Raises:
        RulesLoadError: with every problem found.
    """
    source = read_yaml(text, environ)
    if source.problems and source.data is None:
        raise RulesLoadError(filename, source.problems)
    rules = _Loader(source).load(filename)
    redact.register(rules.secrets)  # from now on, never written to a record, a log or a screen
    return rules


def load_file(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> RuleSet:
    """Load a rules file.

    Raises:
        RulesLoadError: the file is unreadable or invalid; every problem is listed.
    """
    filename = os.fspath(path)
    try:
        text = FilePath(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesLoadError(filename, [Problem(1, 1, f"cannot read the file: {exc}")]) from None
    return load_text(text, filename, environ)
