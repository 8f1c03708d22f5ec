"""KuFlow-aware warnings of `rules check`: what a valid rules file asks that KuFlow never sends.

An event `type` KuFlow does not have (`PROCESS.STATE_CHANGE`), a value outside one of its
enumerations (`processState: CANCELED`; KuFlow spells it CANCELLED), a `data.*` field the rule's
event types do not carry (`data.processItemDefinitonCode`), and a template reading such a field
(`{{ data.procesId }}`); a timer's `unless:` likewise, and its `same:` fields. Warnings, not
errors: KuFlow adds types and values in minor versions, so something unknown today may be
legitimate tomorrow (`rules check --strict` makes them fail).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from contract import events
from handlers.rules import paths
from handlers.rules.errors import Problem
from handlers.rules.source import Path, Source

_TEMPLATE_DATA = re.compile(r"\{\{\s*data\.([A-Za-z_][A-Za-z0-9_]*)")
_ENTITY_FIELD = re.compile(r"process\.entity\.value\.([A-Za-z_][A-Za-z0-9_]*)")


def _literals(value: Any) -> list[str]:
    """The text values a matcher names: a literal, a list of them, or `anything-but`'s."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    if isinstance(value, dict) and "anything-but" in value:
        return _literals(value["anything-but"])
    return []


def _conditions(when: Any, at: Path) -> Iterator[tuple[str, Any, Path]]:
    """Every (path, matcher, position) of a `when`, inside all / any / not too."""
    if not isinstance(when, dict):
        return
    for key, value in when.items():
        if key in ("all", "any") and isinstance(value, list):
            for index, part in enumerate(value):
                yield from _conditions(part, (*at, key, index))
        elif key == "not":
            yield from _conditions(value, (*at, key))
        else:
            yield str(key), value, (*at, key)


def _types(when: Any) -> list[str]:
    """The known event types a rule can match (all of them when its `type` is not a literal)."""
    named = _literals(when.get("type")) if isinstance(when, dict) else []
    known = [t for t in named if t in events.EVENTS]
    return known or list(events.EVENTS)


Fields = dict[str, events.Values]


def _fields(types: list[str]) -> Fields:
    fields: Fields = {}
    for kind in types:
        fields.update(events.EVENTS[kind])
    return fields


def _strings(value: Any, at: Path) -> Iterator[tuple[str, Path]]:
    if isinstance(value, str):
        yield value, at
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _strings(inner, (*at, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _strings(inner, (*at, index))


def _open_type(matcher: Any) -> bool:
    """Whether a `type` matcher can match more than the types it names (a prefix, a wildcard,
    anything-but …): types KuFlow never sends, a forger's `PROCESS.FORGED` or `CUSTOM.X`."""
    if isinstance(matcher, str):
        return False
    if isinstance(matcher, list):
        return not all(isinstance(v, str) for v in matcher)
    return not (isinstance(matcher, dict) and set(matcher) <= {"equals-ignore-case"})


def _check_condition(source: Source, path: str, matcher: Any, where: Path, fields: Fields) -> None:
    if path == "type":
        for value in _literals(matcher):
            if value not in events.EVENTS:
                hint = paths.suggest(value, events.EVENTS)
                source.problem(where, f"KuFlow sends no event of type '{value}'{hint}")
        if _open_type(matcher):
            known = ", ".join(events.EVENTS)
            source.problem(
                where,
                "this type condition also matches types KuFlow never sends (a forged "
                "'PROCESS.FORGED' or 'CUSTOM.X'): name the types you mean, e.g. "
                f"[{known}] — with verification on, such an event acts only if it names a "
                "process KuFlow knows",
            )
        return
    segments = path.split(".")
    if segments[0] != "data" or len(segments) < 2:
        return
    name = segments[1]
    if name not in fields:
        hint = paths.suggest(name, fields)
        source.problem(where, f"the events of this rule carry no data.{name}{hint}")
        return
    allowed = fields[name]
    if allowed and len(segments) == 2:
        for value in _literals(matcher):
            if value not in allowed:
                hint = paths.suggest(value, allowed)
                source.problem(where, f"KuFlow's {name} is never '{value}'{hint}")


def _kuflow_connections(data: Any) -> set[str]:
    connections = data.get("connections") if isinstance(data, dict) else None
    if not isinstance(connections, dict):
        return set()
    return {n for n, c in connections.items() if isinstance(c, dict) and c.get("type") == "kuflow"}


def _entity_replacements(source: Source, rule: dict[str, Any], at: Path, kuflow: set[str]) -> None:
    """Warn of `update_process_entity`: it replaces the whole entity, so a field it does not list
    is lost — name those the rule itself reads (`process.entity.value.X`)."""
    actions = rule.get("do")
    said = [path for path, _, _ in _conditions(rule.get("when"), ())]
    said += [text for text, _ in _strings(actions, ())]
    read = {name for text in said for name in _ENTITY_FIELD.findall(text)}
    for index, action in enumerate(actions if isinstance(actions, list) else []):
        if not isinstance(action, dict):
            continue
        for name, params in action.items():
            connection, _, operation = str(name).partition(".")
            if connection not in kuflow or operation != "update_process_entity":
                continue
            entity = params.get("entity") if isinstance(params, dict) else None
            lost = sorted(read - set(entity if isinstance(entity, dict) else {}))
            named = f" — this rule reads {', '.join(lost)}, which it would drop" if lost else ""
            source.problem(
                (*at, "do", index, name),
                "update_process_entity replaces the whole entity: every field not listed is "
                f"lost{named}; to change some fields, use {connection}.patch_process_entity "
                "with set:",
            )


def _check_rule(source: Source, rule: dict[str, Any], at: Path) -> None:
    if rule.get("verify") == "skip":
        source.problem(
            (*at, "verify"),
            "verify: skip — this rule acts on events KuFlow does not vouch for: whoever learns "
            "the webhook's credentials can make it act; keep it to actions that are harmless "
            "when forged",
        )
    when = rule.get("when")
    fields = _fields(_types(when))
    for path, matcher, where in _conditions(when, (*at, "when")):
        _check_condition(source, path, matcher, where, fields)
    for text, where in _strings(rule.get("do"), (*at, "do")):
        for name in _TEMPLATE_DATA.findall(text):
            if name not in fields:
                hint = paths.suggest(name, fields)
                message = f"the events of this rule carry no data.{name}{hint}"
                source.problem(where, f"{{{{ data.{name} }}}}: {message}")


def _check_timer(source: Source, rule: dict[str, Any], at: Path) -> None:
    """`unless:` as `when` is checked, and its `same:` fields: carried by both events, and not
    none at all (then any such event, of any process, cancels every timer of the rule)."""
    unless = rule.get("unless")
    if not isinstance(unless, dict):
        return
    event = unless.get("event")
    cancelling = _fields(_types(event))
    for path, matcher, where in _conditions(event, (*at, "unless", "event")):
        _check_condition(source, path, matcher, where, cancelling)
    same = unless.get("same") or []
    if not same:
        source.problem(
            (*at, "unless"),
            "no `same:` — any event matching unless.event cancels every pending timer of this "
            "rule, whatever process or task it is about; name the fields both events share, "
            "e.g. same: [data.processItemId]",
        )
    starting = _fields(_types(rule.get("when")))
    for index, path in enumerate(same if isinstance(same, list) else []):
        segments = str(path).split(".")
        if segments[0] != "data" or len(segments) < 2:
            continue
        for fields, which in ((starting, "starting"), (cancelling, "cancelling")):
            if segments[1] not in fields:
                hint = paths.suggest(segments[1], fields)
                source.problem(
                    (*at, "unless", "same", index),
                    f"the {which} events of this rule carry no data.{segments[1]}, so the two "
                    f"never share it{hint}",
                )


def warnings(source: Source) -> list[Problem]:
    """The KuFlow-aware warnings of a file that loaded without problems."""
    checked = Source(source.data, source.positions)
    rules = source.data.get("rules") if isinstance(source.data, dict) else None
    kuflow = _kuflow_connections(source.data)
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        if isinstance(rule, dict):
            _check_rule(checked, rule, ("rules", index))
            _check_timer(checked, rule, ("rules", index))
            _entity_replacements(checked, rule, ("rules", index), kuflow)
    return sorted(checked.problems)
