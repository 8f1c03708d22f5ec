"""Templates: `{{ path | filter }}` inside the string values of an action's parameters.

A value that is exactly one `{{ … }}` keeps the JSON type of what it refers to; any other text
is interpolated (strings as they are, everything else in its JSON form). Filters:
`default: <literal>`, `lower`, `upper`, `json`. Templates are data, not code: there are no
expressions, no attribute access on Python objects, and a rendered value is never rendered again,
so event text such as `{{ 7*7 }}` stays text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from handlers.rules import paths
from handlers.rules.errors import TemplateError
from handlers.rules.source import Path, Source

_BRACES = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_PATH = re.compile(r"\s*([A-Za-z_][\w-]*(?:\.[\w-]+)*)\s*")
_LITERAL = (
    r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null"""
)
_FILTER = re.compile(rf"\|\s*([A-Za-z_]+)\s*(?::\s*({_LITERAL})\s*)?")
FILTERS = ("default", "lower", "upper", "json")


@dataclass(frozen=True)
class Expression:
    """One `{{ path | filter … }}`."""

    text: str
    path: str
    segments: paths.Segments
    filters: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Template:
    """A string with expressions; `parts` alternate literal text and expressions."""

    parts: tuple[str | Expression, ...]

    @property
    def single(self) -> Expression | None:
        """The expression when the whole value is exactly one `{{ … }}` (type-preserving)."""
        if len(self.parts) == 1 and isinstance(self.parts[0], Expression):
            return self.parts[0]
        return None


def _literal(text: str) -> Any:
    if text[0] == "'":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return json.loads(text)


def parse_expression(text: str) -> Expression:
    """Parse the inside of `{{ … }}`.

    Raises:
        ValueError: the syntax is wrong or a filter is unknown; the message says what to write.
    """
    match = _PATH.match(text)
    if not match:
        raise ValueError(
            f"'{{{{{text}}}}}' is not a template: write a dotted path such as "
            "{{ data.processId }}, optionally followed by filters (| default: 'x', | lower)"
        )
    filters: list[tuple[str, Any]] = []
    position = match.end()
    while position < len(text):
        found = _FILTER.match(text, position)
        if not found:
            raise ValueError(f"cannot read '{text[position:].strip()}' in '{{{{{text}}}}}'")
        name, argument = found.group(1), found.group(2)
        if name not in FILTERS:
            raise ValueError(f"unknown filter '{name}'{paths.suggest(name, FILTERS)}")
        if (name == "default") != (argument is not None):
            usage = (
                "`| default: <literal>`, the literal a quoted string ('text'), a number, "
                "true, false or null"
                if name == "default"
                else f"`| {name}` (no argument)"
            )
            raise ValueError(f"write the filter as {usage}")
        filters.append((name, _literal(argument) if argument is not None else None))
        position = found.end()
    path = match.group(1)
    return Expression(text.strip(), path, paths.parse(path), tuple(filters))


def compile_string(text: str) -> Template | str:
    """A Template when the text has `{{`, else the text itself.

    Raises:
        ValueError: an expression is malformed.
    """
    if "{{" not in text:
        return text
    parts: list[str | Expression] = []
    position = 0
    for match in _BRACES.finditer(text):
        if match.start() > position:
            parts.append(text[position : match.start()])
        parts.append(parse_expression(match.group(1)))
        position = match.end()
    if position < len(text):
        parts.append(text[position:])
    if any(isinstance(part, str) and "{{" in part for part in parts):
        raise ValueError("a '{{' is not closed by '}}'")
    return Template(tuple(parts))


def compile_value(
    source: Source, raw: Any, at: Path, check: Callable[[Expression], str | None]
) -> Any:
    """Replace every templated string inside `raw` by a Template; `check` vets each expression."""
    if isinstance(raw, str):
        try:
            compiled = compile_string(raw)
        except ValueError as exc:
            source.problem(at, str(exc))
            return raw
        if isinstance(compiled, Template):
            for part in compiled.parts:
                problem = check(part) if isinstance(part, Expression) else None
                if problem:
                    source.problem(at, problem)
        return compiled
    if isinstance(raw, dict):
        return {k: compile_value(source, v, (*at, k), check) for k, v in raw.items()}
    if isinstance(raw, list):
        return [compile_value(source, v, (*at, i), check) for i, v in enumerate(raw)]
    return raw


def expressions(value: Any) -> list[Expression]:
    """Every expression inside a compiled value."""
    if isinstance(value, Template):
        return [p for p in value.parts if isinstance(p, Expression)]
    if isinstance(value, dict):
        return [e for v in value.values() for e in expressions(v)]
    if isinstance(value, list):
        return [e for v in value for e in expressions(v)]
    return []


def _evaluate(expression: Expression, context: Mapping[str, Any], where: str) -> Any:
    found, value = paths.resolve_one(context, expression.segments)
    for name, argument in expression.filters:
        if name == "default":
            if not found or value is None:
                found, value = True, argument
        elif found and name in ("lower", "upper") and isinstance(value, str):
            value = value.lower() if name == "lower" else value.upper()
        elif found and name == "json":
            value = json.dumps(value, ensure_ascii=False)
    if not found:
        raise TemplateError(
            f"{where}: {{{{ {expression.text} }}}} — '{expression.path}' is missing from this "
            "event; add `| default: …` or match only events that have it"
        )
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render(
    value: Any,
    context: Mapping[str, Any],
    where: str,
    encode: Callable[[str], str] | None = None,
) -> Any:
    """Render a compiled value against the context (event, enrichment, results, rule).

    `encode` is applied to each interpolated value (e.g. URL-encoding of path parameters), never
    to the literal text around it.

    Raises:
        TemplateError: a path is missing and has no default; the message names it and `where`.
    """
    if isinstance(value, Template):
        single = value.single
        if single is not None and encode is None:
            return _evaluate(single, context, where)
        pieces = []
        for part in value.parts:
            if isinstance(part, str):
                pieces.append(part)
            else:
                text = _text(_evaluate(part, context, where))
                pieces.append(encode(text) if encode else text)
        return "".join(pieces)
    if isinstance(value, dict):
        return {k: render(v, context, where, encode) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context, where, encode) for v in value]
    return value
