"""The JSON Schema (draft 2020-12) of rules.yaml, built from the models the loader validates with.

Editors with a YAML language server complete and check a rules file as it is typed when its
first line is `# yaml-language-server: $schema=./rules.schema.json`. The schema says what a
schema can: keys, types, operations and their parameters (a `{{ template }}` string is accepted
wherever a value is), matchers, durations. The rest stays the loader's, with `file:line:column`:
that an action names a connection defined above, exactly one action per `do` item, templates'
roots and `as:` names, regexes that could backtrack, rule names unique.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from pydantic import BaseModel

from authoring import help as words
from handlers.clients.catalogue import CHAT_OPERATIONS, CONNECTION_TYPES
from handlers.clients.params import DURATION_SCHEMA
from handlers.rules.matchers import COMBINATORS, MATCHERS, NUMERIC_OPERATORS
from handlers.rules.model import (
    ActionOptions,
    AlertModel,
    DefaultsModel,
    FileModel,
    RetryModel,
    RuleModel,
)

DIALECT = "https://json-schema.org/draft/2020-12/schema"
TEMPLATE = {
    "type": "string",
    "pattern": r"\{\{",
    "description": "A template: {{ path }} is replaced by the event's value there "
    "(data.*, process.*, processItem.*, results.<as>.*, id, type, timestamp).",
}
SCALAR = {"type": ["string", "number", "boolean", "null"]}
MATCHER_HELP = {
    "prefix": ("The value starts with this text.", {"prefix": "LOAN"}),
    "suffix": ("The value ends with this text.", {"suffix": "@example.com"}),
    "wildcard": ("* stands for any text, e.g. LOAN-*-2026.", {"wildcard": "LOAN-*"}),
    "equals-ignore-case": ("Equal, ignoring case.", {"equals-ignore-case": "approved"}),
    "anything-but": ("Any value but this one (or these).", {"anything-but": ["CANCELLED"]}),
    "numeric": ("One or two comparisons with numbers.", {"numeric": [">=", 10000, "<", 50000]}),
    "exists": ("The path is present (true) or absent (false).", {"exists": True}),
    "regex": ("The whole value matches this regular expression.", {"regex": "[A-Z]{3}-\\d+"}),
}
MATCHER_ARGUMENT: dict[str, dict[str, Any]] = {
    "prefix": {"type": "string"},
    "suffix": {"type": "string"},
    "wildcard": {"type": "string"},
    "equals-ignore-case": {"type": "string"},
    "regex": {"type": "string"},
    "exists": {"type": "boolean"},
    "anything-but": {"anyOf": [SCALAR, {"type": "array", "items": SCALAR, "minItems": 1}]},
    "numeric": {
        "type": "array",
        "minItems": 2,
        "maxItems": 4,
        "prefixItems": [
            {"enum": list(NUMERIC_OPERATORS)},
            {"type": "number"},
            {"enum": list(NUMERIC_OPERATORS)},
            {"type": "number"},
        ],
    },
}


def _model(model: type[BaseModel], defs: dict[str, Any]) -> dict[str, Any]:
    """A model's schema, its own `$defs` moved to the document's."""
    schema = model.model_json_schema(ref_template="#/$defs/{model}")
    defs.update(schema.pop("$defs", {}))
    return schema


def _templatable(schema: dict[str, Any]) -> dict[str, Any]:
    """Every property of `schema` (and of nested objects) also takes a `{{ template }}`; its
    description (the field's own) stays outside, where an editor looks for it."""
    for name, prop in list(schema.get("properties", {}).items()):
        text = prop.pop("description", None)
        wrapped: dict[str, Any] = {"anyOf": [prop, {"$ref": "#/$defs/template"}]}
        for key in ("default", "title"):
            prop.pop(key, None)
        if text:
            wrapped["description"] = text
        schema["properties"][name] = wrapped
    return schema


def _connection(kind: str, defs: dict[str, Any]) -> dict[str, Any]:
    model = CONNECTION_TYPES[kind].model
    schema = _model(model, defs)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    kinds = list(CONNECTION_TYPES)
    described = f"The kind of API: {', '.join(kinds[:-1])} or {kinds[-1]}."
    schema["properties"]["type"] = {"const": kind, "description": described}
    breaker = schema["properties"]["breaker"]
    breaker["anyOf"] = [{"$ref": "#/$defs/Breaker"}, {"const": False}]
    breaker.pop("default", None)
    schema["description"] = (model.__doc__ or "").strip()
    return schema


def _described(schema: dict[str, Any], words_: dict[str, str]) -> dict[str, Any]:
    """`schema` with each property's description from `words_`, its pydantic title gone."""
    schema.pop("title", None)
    for name, prop in schema.get("properties", {}).items():
        prop.pop("title", None)
        prop["description"] = words_[name]
    return schema


def _operations(defs: dict[str, Any]) -> dict[str, Any]:
    """`<connection>.<operation>` keys: each operation's parameters, by its name."""
    found: dict[str, Any] = {}
    for kind, connection_type in CONNECTION_TYPES.items():
        for name, operation in connection_type.operations.items():
            inner: dict[str, Any] = {}
            schema = _templatable(_model(operation.params, inner))
            for nested in inner.values():
                _templatable(nested)
            defs.update(inner)
            schema.pop("title", None)
            schema["description"] = f"{kind}: {operation.summary}."
            found[rf"^[A-Za-z0-9_-]+\.{name}$"] = schema
    return found


def _alert_send(action: dict[str, Any]) -> dict[str, Any]:
    """An action's schema, where a chat message's text may be left out (it is the alert's)."""
    send = copy.deepcopy(action)
    for pattern, params in send["patternProperties"].items():
        if pattern.endswith(tuple(rf"\.{name}$" for name in CHAT_OPERATIONS)):
            params["required"] = [r for r in params.get("required", []) if r != "text"]
    return send


def _when() -> dict[str, Any]:
    matchers = []
    for kind in MATCHERS:
        text, example = MATCHER_HELP[kind]
        matchers.append(
            {
                "type": "object",
                "properties": {kind: MATCHER_ARGUMENT[kind]},
                "required": [kind],
                "additionalProperties": False,
                "description": text,
                "examples": [example],
            }
        )
    matcher = {
        "description": "What the value at this path must be: a value (equals), a list of "
        "values (any of them), or one matcher.",
        "anyOf": [
            SCALAR,
            {"type": "array", "minItems": 1, "items": {"anyOf": [SCALAR, *matchers]}},
            *matchers,
        ],
    }
    assert set(COMBINATORS) == {"all", "any", "not"}
    conditions = {"type": "array", "items": {"$ref": "#/$defs/when"}}
    return {
        "type": "object",
        "description": "Conditions, all of which must hold: a path of the event (type, "
        "data.processState, process.*, processItem.*) and what its value must be; all, any, not "
        "combine conditions.",
        "properties": {
            "all": {**conditions, "description": "Every one holds."},
            "any": {**conditions, "description": "At least one holds."},
            "not": {"$ref": "#/$defs/when", "description": "It does not hold."},
        },
        "additionalProperties": matcher,
        "examples": [{"type": "PROCESS.CREATED", "data.processState": "RUNNING"}],
    }


def build() -> dict[str, Any]:
    """The schema document."""
    defs: dict[str, Any] = {"template": TEMPLATE, "duration": DURATION_SCHEMA}
    rule = _model(RuleModel, defs)
    options = _model(ActionOptions, defs)
    action = {
        "type": "object",
        "description": "One action: `<connection>.<operation>: {parameters}`, with optional "
        "as:, retry:, timeout:.",
        "properties": options["properties"],
        "patternProperties": _operations(defs),
        "additionalProperties": False,
        "minProperties": 1,
    }
    rule["properties"]["when"] = {"$ref": "#/$defs/when"}
    rule["properties"]["do"] = {
        "type": "array",
        "minItems": 1,
        "items": action,
        "description": "The actions, run in order.",
    }
    defs["when"] = _when()
    unless = defs["UnlessModel"]
    unless.pop("title", None)
    event = unless["properties"]["event"]
    unless["properties"]["event"] = {"$ref": "#/$defs/when", "description": event["description"]}
    defs["RetryModel"] = _model(RetryModel, defs)
    connections = [_connection(kind, defs) for kind in CONNECTION_TYPES]
    for policy in ("Limits", "Breaker"):
        _described(defs[policy], words.POLICY)
    defaults = _model(DefaultsModel, defs)
    alert = _described(_model(AlertModel, defs), words.ALERT)
    alert["properties"]["send"] = {**_alert_send(action), "description": words.ALERT["send"]}
    return {
        "$schema": DIALECT,
        "$id": "https://kuflow-router.example/rules.schema.json",
        "title": "kuflow-router rules.yaml",
        "description": "What kuflow-router does with each KuFlow event: connections, and rules "
        "that match events and run actions.",
        "type": "object",
        "required": ["version"],
        "additionalProperties": False,
        "properties": {
            "version": {"const": 1, "description": "The language's version: 1."},
            "connections": {
                "type": "object",
                "description": "The only places requests can go, by the name actions use.",
                "additionalProperties": {"oneOf": connections},
            },
            "defaults": defaults,
            "enrichment": {
                "type": "object",
                "additionalProperties": False,
                "required": ["connection"],
                "properties": {"connection": {"type": "string"}},
                "description": "Which kuflow connection reads process.* and processItem.*.",
            },
            "verify": {
                "type": "boolean",
                "description": "Check each acted-on event against "
                "KuFlow before acting (default true).",
            },
            "rules": {"type": "array", "items": rule, "description": "The rules, in order."},
            "alerts": {
                "type": "array",
                "items": alert,
                "description": "Who is told when an action is dead-lettered, a connection's "
                "breaker opens or closes, or a rules reload fails.",
            },
            "redact": {
                "type": "array",
                "items": {"type": "string", "pattern": r"^(data|process|processItem)\.[^.].*$"},
                "description": FileModel.model_fields["redact"].description,
            },
        },
        "$defs": defs,
    }


def text() -> str:
    """The schema as the committed file holds it."""
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
