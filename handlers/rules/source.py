"""Read YAML into plain data, remembering where every value came from.

PyYAML silently keeps the last of two equal keys; here a duplicate key at any depth is a
problem. `${VAR}` is replaced in string scalars only, after parsing, so an environment value
can never add YAML structure. Positions are recorded per path (`("rules", 0, "when")`), for
the key where a mapping entry starts, so a problem can name `file:line:column`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from handlers.rules import paths
from handlers.rules.errors import Problem

Path = tuple[str | int, ...]

_ENV = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MAX_NODES = 200_000  # aliases can expand a small file exponentially ("billion laughs")
_SCALARS = SafeConstructor()


class Placeholders(Mapping[str, str]):
    """The environment, where an unset `${NAME}` reads as `fill(NAME)` instead of an error: for
    what sends nothing (a dry run, a comparison) or sends only to stand-ins (demo mode).
    `filled` collects the names read that way, for the caller to say which they were."""

    def __init__(
        self, environ: Mapping[str, str], fill: Callable[[str], str] = lambda name: f"<{name}>"
    ) -> None:
        self._environ = environ
        self._fill = fill
        self.filled: set[str] = set()

    def __getitem__(self, name: str) -> str:
        if name in self._environ:
            return self._environ[name]
        self.filled.add(name)
        return self._fill(name)

    def __contains__(self, name: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._environ)

    def __len__(self) -> int:
        return len(self._environ)

    def at(self, name: str, path: Path) -> tuple[str, bool]:
        """What `${name}` reads as where it is written, at `path`, and whether that is a value
        of the environment (rather than a stand-in)."""
        return self[name], name in self._environ


class Withheld(Placeholders):
    """The environment for a reader that must never hold a secret (the console): `${NAME}`
    reads as its value only where `public(path)` says the place holds no secret (a
    connection's `base_url`), and as `<NAME>` everywhere else. `shown` collects what was read."""

    def __init__(self, environ: Mapping[str, str], public: Callable[[Path], bool]) -> None:
        super().__init__(environ)
        self._public = public
        self.shown: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        return f"<{name}>"

    def at(self, name: str, path: Path) -> tuple[str, bool]:
        if self._public(path) and name in self._environ:
            self.shown[name] = self._environ[name]
            return self.shown[name], True
        return self[name], False


@dataclass
class Source:
    """Parsed data plus the position of each path in the file."""

    data: Any
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    substituted: list[str] = field(default_factory=list)  # every ${VAR} value read: secrets
    unset: set[Path] = field(default_factory=set)  # where a ${VAR} was not set
    stand_ins: set[str] = field(default_factory=set)  # what an unread ${VAR} reads as: no secret

    def position(self, path: Path) -> tuple[int, int]:
        """The position of `path`, or of its nearest recorded ancestor."""
        while path not in self.positions and path:
            path = path[:-1]
        return self.positions.get(path, (1, 1))

    def problem(self, path: Path, message: str) -> None:
        """Record a problem at the position of `path`.

        Nothing more is said of a value whose `${VAR}` was not set: that is its problem, and
        what follows from it ("must be an absolute URL") would only bury the cause.
        """
        if any(path[:depth] in self.unset for depth in range(len(path) + 1)):
            return
        line, column = self.position(path)
        self.problems.append(Problem(line, column, message))


class _Builder:
    def __init__(self, source: Source, environ: Mapping[str, str]) -> None:
        self.source = source
        self.environ = environ
        self.count = 0

    def build(self, node: Node, path: Path) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            raise _TooLarge
        self.source.positions.setdefault(
            path, (node.start_mark.line + 1, node.start_mark.column + 1)
        )
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        return self._scalar(node, path)

    def _mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._scalar(key_node, path) if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str | int | float | bool) or isinstance(key, bool):
                mark = key_node.start_mark
                self.source.problems.append(
                    Problem(
                        mark.line + 1,
                        mark.column + 1,
                        "a key must be a plain string; a {{ template }} as a value needs "
                        'quotes: "{{ data.processId }}"',
                    )
                )
                continue
            key = str(key)
            child = (*path, key)
            mark = key_node.start_mark
            if key in result:
                first = self.source.positions[child]
                self.source.problems.append(
                    Problem(
                        mark.line + 1,
                        mark.column + 1,
                        f"duplicate key '{key}' (first defined at line {first[0]}); "
                        "remove one of them",
                    )
                )
                continue
            self.source.positions[child] = (mark.line + 1, mark.column + 1)
            result[key] = self.build(value_node, child)
        return result

    def _scalar(self, node: ScalarNode, path: Path) -> Any:
        if node.tag in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"):
            return node.value  # dates (and a lone '=') stay text, as they would in JSON
        try:
            value = _SCALARS.construct_object(node)
        except yaml.YAMLError:
            mark = node.start_mark
            message = f"unsupported YAML tag {node.tag}; write plain values"
            self.source.problems.append(Problem(mark.line + 1, mark.column + 1, message))
            return node.value
        if isinstance(value, str):
            return self._substitute(value, path)
        if isinstance(value, bytes | set):
            return str(node.value)
        return value

    def _substitute(self, text: str, path: Path) -> str:
        def replace(match: re.Match[str]) -> str:
            escaped, name = match.group(1), match.group(2)
            if escaped:
                return "${" + name + "}"
            if name not in self.environ:
                self.source.problem(
                    path,
                    f"environment variable {name} is not set (referenced as ${{{name}}}); "
                    "set it, or put it in .env",
                )
                self.source.unset.add(path)
                return ""
            if isinstance(self.environ, Placeholders):
                value, real = self.environ.at(name, path)
            else:
                value, real = self.environ[name], True
            if real:
                self.source.substituted.append(value)
            else:
                self.source.stand_ins.add(value)
            return value

        return _ENV.sub(replace, text) if "$" in text else text


# PyYAML's wording of common mistakes → what a person should change, and whether the place to
# show is where the construct started (the context mark) rather than where parsing gave up.
_SYNTAX: tuple[tuple[str, str, bool], ...] = (
    ("mapping values are not allowed here",
     "a ':' where a value was expected — this line is indented deeper than the one above "
     "(line it up with its siblings), or a value containing ': ' needs quotes", False),
    ("found character '\\t' that cannot start any token",
     "a tab character: YAML is indented with spaces only", False),
    ("expected <block end>, but found '<block mapping start>'",
     "this key is indented less than the keys above it but more than their parent: "
     "line it up with the keys it belongs with", False),
    ("expected <block end>",
     "this line does not line up with the lines above it: check its indentation", False),
    ("could not find expected ':'",
     "a key without ':' after it (or a line that goes on from the one above)", True),
    ("found unexpected end of stream",
     "a quoted value that starts here is never closed", True),
    ("expected ',' or '}'",
     "a '{' that starts here is not closed by '}' (or a ',' is missing); a "
     "{{ template }} as a value needs quotes", True),
    ("expected ',' or ']'",
     "a '[' that starts here is not closed by ']' (or a ',' is missing)", True),
    ("expected the node content, but found '<stream end>'",
     "the file ends inside a '[' or '{' that is never closed", False),
)  # fmt: skip


def _syntax_problem(exc: yaml.MarkedYAMLError) -> Problem:
    """A YAML syntax error in plain words, at the line a person should look at."""
    raw = " ".join(part for part in (exc.context, exc.problem) if part)
    message, at_context = f"YAML syntax: {raw}", False
    for wording, plain, use_context in _SYNTAX:
        if wording in raw:
            message, at_context = plain, use_context
            break
    mark = (exc.context_mark if at_context else None) or exc.problem_mark or exc.context_mark
    return Problem(mark.line + 1, mark.column + 1, message) if mark else Problem(1, 1, message)


class _TooLarge(Exception):
    pass


def read_yaml(text: str, environ: Mapping[str, str] | None = None) -> Source:
    """Parse YAML text; syntax errors, duplicate keys and unset variables become problems."""
    source = Source(data=None)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        source.problems.append(_syntax_problem(exc))
        return source
    except (yaml.YAMLError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        source.problems.append(Problem(1, 1, f"YAML could not be read: {reason}"))
        return source
    if node is None:
        source.data = {}
        return source
    try:
        source.data = _Builder(source, os.environ if environ is None else environ).build(node, ())
    except (_TooLarge, RecursionError):
        source.problems.append(
            Problem(1, 1, "the file expands to too many values (aliases?) or nests too deeply")
        )
        source.data = None
    return source


Model = TypeVar("Model", bound=BaseModel)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model an annotation holds: `X`, `X | None`, `Annotated[X | None, …]`, `list[X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for inner in get_args(annotation):
        found = _model_in(inner)
        if found is not None:
            return found
    return None


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel]:
    """The model whose keys are at `loc` inside `model` (`limits` → Limits), else `model`."""
    current = model
    for segment in loc:
        if isinstance(segment, int):
            continue  # an item of a list: the list's model is the item's
        field = next((f for n, f in current.model_fields.items() if segment in (n, f.alias)), None)
        found = _model_in(field.annotation) if field is not None else None
        if found is None:
            return model
        current = found
    return current


def _message(error: Any, model: type[BaseModel]) -> tuple[Path, str]:
    loc = tuple(error["loc"])
    kind, name = error["type"], str(loc[-1]) if loc else ""
    if kind == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        fields = [f.alias or n for n, f in owner.model_fields.items()]
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
