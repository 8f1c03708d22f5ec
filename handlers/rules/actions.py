"""Compile one item of a rule's `do` list: `<connection>.<operation>` resolved in the action
catalogue, its options and parameters checked, its templates compiled.

Every problem is reported at its own `file:line:column` through the file's `Source`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from handlers.clients.base import Connection, Operation
from handlers.clients.catalogue import CONNECTION_TYPES
from handlers.rules import paths
from handlers.rules.model import ALERT_FIELDS, Action, ActionOptions, RetryPolicy
from handlers.rules.source import Path, Source, validate
from handlers.rules.template import Expression, compile_value, expressions

ACTION_OPTIONS = ("as", "retry", "timeout")


class ActionLoader:
    """Compiles the actions of one file, given its valid connections."""

    def __init__(
        self, source: Source, connections: Mapping[str, Connection], broken: Mapping[str, str]
    ) -> None:
        self.source = source
        self.connections = connections
        self.broken = broken  # connections whose own problems were reported: name → type

    def load(
        self,
        rule: str,
        raw: dict[str, Any],
        at: Path,
        index: int,
        results: set[str],
        retry: RetryPolicy,
        timeout: float,
        check: Callable[[Expression], str | None] | None = None,
        timer: bool = False,
    ) -> Action | None:
        """Action `index` of `rule`; None (with its problems reported) when it is invalid.

        `check` vets each template expression; by default, a rule's (event, enrichment, earlier
        results, rule name, idempotency key; with `timer`, the rule waits: `timer.*` too).
        """
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
        check = check or _template_check(results, timer)
        compiled = self._operation(name, raw[name], (*at, name), check)
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

    def _operation(
        self, name: str, raw: Any, at: Path, check: Callable[[Expression], str | None]
    ) -> tuple[str, Operation[Any, Any, Any], dict[str, Any]] | None:
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
        compiled = compile_value(self.source, params, at, check)
        self._check_literals(operation, compiled, at)
        return connection, operation, compiled

    def _check_literals(
        self, operation: Operation[Any, Any, Any], params: dict[str, Any], at: Path
    ) -> None:
        """Validate now the parameters that hold no template (e.g. `level: WARNING` is wrong)."""
        for name, field in operation.params.model_fields.items():
            key = field.alias or name
            if key not in params or expressions(params[key]) or _broken(params[key]):
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


def _broken(value: Any) -> bool:
    """Whether a value still holds `{{`: a template that did not compile, already reported —
    what it would be as a literal is beside the point."""
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, dict):
        return any(_broken(v) for v in value.values())
    if isinstance(value, list):
        return any(_broken(v) for v in value)
    return False


def alert_check(expression: Expression) -> str | None:
    """An alert's templates see only `alert` (the failure it reports), not an event's fields."""
    root, rest = str(expression.segments[0]), expression.segments[1:]
    if root != "alert":
        return f"an alert's templates use only alert.*, e.g. {{{{ alert.text }}}}; not '{root}'"
    if rest and str(rest[0]) not in ALERT_FIELDS:
        return f"unknown field 'alert.{rest[0]}'{paths.suggest(str(rest[0]), ALERT_FIELDS)}"
    return None


def _template_check(results: set[str], timer: bool) -> Any:
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
        if root == paths.TIMER_ROOT:
            if not timer:
                return "{{ timer.… }} is known only in a rule with `after:` (its actions wait)"
            if len(rest) != 1 or str(rest[0]) not in paths.TIMER_FIELDS:
                fields = ", ".join(f"timer.{name}" for name in paths.TIMER_FIELDS)
                return f"a timer's fields are {fields}"
        return None

    return check
