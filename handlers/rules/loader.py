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
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from common import redact
from handlers.clients.base import Connection, Operation
from handlers.clients.catalogue import CONNECTION_TYPES
from handlers.rules import paths
from handlers.rules.errors import Problem, RulesLoadError
from handlers.rules.index import RuleIndex
from handlers.rules.match import compile_when
from handlers.rules.model import (
    Action,
    ActionOptions,
    DefaultsModel,
    FileModel,
    RetryPolicy,
    Rule,
    RuleModel,
    RuleSet,
)
from handlers.rules.source import Path, Source, read_yaml
from handlers.rules.template import Expression, compile_value, expressions

Model = TypeVar("Model", bound=BaseModel)
ACTION_OPTIONS = ("as", "retry", "timeout")


def _message(error: Any, model: type[BaseModel]) -> tuple[Path, str]:
    loc = tuple(error["loc"])
    kind, name = error["type"], str(loc[-1]) if loc else ""
    if kind == "extra_forbidden":
        fields = [f.alias or n for n, f in model.model_fields.items()]
        return loc, f"unknown key '{name}'{paths.suggest(name, fields)}"
    if kind == "missing":
        return loc[:-1], f"missing required key '{name}'"
    message = error["msg"].removeprefix("Value error, ")
    return loc, f"{name}: {message}" if name else message


def validate(source: Source, model: type[Model], data: Any, at: Path) -> Model | None:
    """Validate `data` against `model`; each error becomes a problem at its own position."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            loc, message = _message(error, model)
            source.problem((*at, *loc), message)
        return None


_NOT_SECRET = ("type", "base_url", "auth")


def _secrets(substituted: list[str], connections: Iterable[Connection]) -> frozenset[str]:
    """Every `${VAR}` value and connection credential, as sent too (e.g. `id:secret` in base64).

    A plain address (a `${VAR}` holding an http(s) URL with no user or password) is not one:
    error messages name the URL they called.
    """
    found = {v for v in substituted if not re.fullmatch(r"https?://[^@\s]*", v)}
    for connection in connections:
        fields = connection.model_dump()
        for name, value in fields.items():
            if name in _NOT_SECRET:
                continue
            if isinstance(value, str):
                found.add(value)
            elif isinstance(value, dict):  # the http connection's headers
                found.update(v for v in value.values() if isinstance(v, str))
        pair = f"{fields.get('client_id')}:{fields.get('client_secret')}"
        if "client_secret" in fields:
            found.add(base64.b64encode(pair.encode()).decode())
    return frozenset(found)


class _Loader:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.connections: dict[str, Connection] = {}
        self.broken: dict[str, str] = {}  # connections whose problems were reported: name → type
        self.defaults = DefaultsModel()

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
        if self.source.problems:
            raise RulesLoadError(filename, self.source.problems)
        index = RuleIndex([rule.when for rule in rules])
        secrets = _secrets(self.source.substituted, self.connections.values())
        verify = top.verify and enrichment is not None
        retry = RetryPolicy().override(self.defaults.retry)
        return RuleSet(
            filename, self.connections, tuple(rules), enrichment, index, secrets, verify,
            retry, self.defaults.timeout,
        )  # fmt: skip

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

    def _rule(self, model: RuleModel, at: Path) -> Rule | None:
        when = compile_when(self.source, model.when, (*at, "when"))
        retry = RetryPolicy().override(self.defaults.retry).override(model.retry)
        timeout = model.timeout if model.timeout is not None else self.defaults.timeout
        actions: list[Action] = []
        results: set[str] = set()
        for index, raw in enumerate(model.do):
            action = self._action(
                model.name, raw, (*at, "do", index), index, results, retry, timeout
            )
            if action is not None:
                actions.append(action)
        if when is None or len(actions) != len(model.do):
            return None
        needs = set(when.roots) | {
            str(e.segments[0]) for a in actions for e in expressions(a.params)
        }
        needs &= set(paths.ENRICHMENT_ROOTS)
        return Rule(model.name, model.description, when, tuple(actions), frozenset(needs))

    def _action(
        self,
        rule: str,
        raw: dict[str, Any],
        at: Path,
        index: int,
        results: set[str],
        retry: RetryPolicy,
        timeout: float,
    ) -> Action | None:
        names = [key for key in raw if "." in key]
        for key in raw:
            if "." not in key and key not in ACTION_OPTIONS:
                hint = paths.suggest(key, ACTION_OPTIONS)
                self.source.problem((*at, key), f"unknown key '{key}'{hint}")
        if len(names) != 1:
            self.source.problem(
                at,
                "each item of `do` is one action, `<connection>.<operation>: {parameters}`"
                + (f"; found {len(names)}: start each with its own '-'" if names else ""),
            )
            return None
        name = names[0]
        chosen = {k: v for k, v in raw.items() if k in ACTION_OPTIONS}
        options = validate(self.source, ActionOptions, chosen, at)
        compiled = self._operation(name, raw[name], (*at, name), results)
        if options is None or compiled is None:
            return None
        connection, operation, params = compiled
        if options.as_ is not None:
            if options.as_ in results:
                self.source.problem((*at, "as"), f"`as: {options.as_}` is used twice in this rule")
            results.add(options.as_)
        return Action(
            index=index,
            name=name,
            connection=connection,
            operation=operation,
            params=params,
            result_as=options.as_,
            retry=retry.override(options.retry),
            timeout_s=options.timeout if options.timeout is not None else timeout,
        )

    def _operation(self, name: str, raw: Any, at: Path, results: set[str]) -> Any:
        connection, _, operation_name = name.partition(".")
        if connection in self.broken:
            return None  # the connection's own problems are reported; this is no new one
        if connection not in self.connections:
            choices = list(self.connections) or ["(none defined)"]
            self.source.problem(
                at, f"unknown connection '{connection}'{paths.suggest(connection, choices)}"
            )
            return None
        type_name = self.connections[connection].type
        kind = CONNECTION_TYPES[type_name]
        if operation_name not in kind.operations:
            hint = paths.suggest(operation_name, kind.operations)
            message = (
                f"'{operation_name}' is not an operation of connection '{connection}' "
                f"(type {type_name}){hint}"
            )
            self.source.problem(at, message)
            return None
        operation = kind.operations[operation_name]
        params = raw if raw is not None else {}
        if not isinstance(params, dict):
            self.source.problem(at, f"the parameters of {name} must be a mapping")
            return None
        fields = operation.names
        for key in params:
            if key not in fields:
                self.source.problem(
                    (*at, key), f"unknown parameter '{key}' of {name}{paths.suggest(key, fields)}"
                )
        for key in operation.required:
            if key not in params:
                self.source.problem(at, f"{name} needs the parameter '{key}'")
        check = _template_check(results)
        compiled = compile_value(self.source, params, at, check)
        self._check_literals(operation, compiled, at)
        return connection, operation, compiled

    def _check_literals(
        self, operation: Operation[Any, Any, Any], params: dict[str, Any], at: Path
    ) -> None:
        """Validate now the parameters that hold no template (e.g. `level: WARNING` is wrong)."""
        for name, field in operation.params.model_fields.items():
            key = field.alias or name
            if key not in params or expressions(params[key]):
                continue
            try:
                TypeAdapter(field.annotation or Any).validate_python(params[key])
            except ValidationError as exc:
                for error in exc.errors(include_url=False, include_input=False):
                    inner = ".".join(str(p) for p in error["loc"])
                    message = error["msg"].removeprefix("Value error, ")
                    self.source.problem(
                        (*at, key), f"{key}{'.' + inner if inner else ''}: {message}"
                    )


def _template_check(results: set[str]) -> Any:
    known = frozenset(results)  # only actions before this one

    def check(expression: Expression) -> str | None:
        root, rest = str(expression.segments[0]), expression.segments[1:]
        if root not in paths.TEMPLATE_ROOTS:
            return f"unknown template root '{root}'{paths.suggest(root, paths.TEMPLATE_ROOTS)}"
        if root == "results" and (not rest or str(rest[0]) not in known):
            name = str(rest[0]) if rest else ""
            listed = ", ".join(sorted(known)) or "none yet"
            return (
                f"{{{{ {expression.path} }}}}: no earlier action of this rule has "
                f"`as: {name}` (defined: {listed})"
            )
        if root == "rule" and rest != ("name",):
            return "the only rule field is {{ rule.name }}"
        if root == "idempotency_key" and rest:
            return "{{ idempotency_key }} has no fields"
        return None

    return check


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
