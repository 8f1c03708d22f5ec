"""rules.schema.json: made from the loader's own models, never stale, valid draft 2020-12, passes
every example rules file, rejects what a schema can express, and describes every key."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

from authoring import schema
from handlers.clients.catalogue import CONNECTION_TYPES
from handlers.rules.errors import RulesLoadError
from handlers.rules.loader import load_text

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = jsonschema.Draft202012Validator(schema.build())
ENV = {"KUFLOW_CLIENT_ID": "i", "KUFLOW_CLIENT_SECRET": "s", "ULTRACART_SIMPLE_KEY": "k",
       "ALTERYX_CLIENT_ID": "i", "ALTERYX_CLIENT_SECRET": "s", "NERM_TOKEN": "t",
       "CRM_TOKEN": "t", "NERM_API_TOKEN": "t", "SLACK_WEBHOOK_PATH": "/services/T0/B0/X"}  # fmt: skip
HEAD = """\
version: 1
connections:
  kuflow: {type: kuflow, base_url: "https://kf.example/v2024-06-14", client_id: i, client_secret: s}
rules:
"""
GOOD_RULE = "  - name: r\n    when: {type: PROCESS.CREATED}\n    do:\n      - kuflow.create_task: {process_id: '{{ data.processId }}', task_code: T}\n"


def errors(text: str) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(yaml.safe_load(text))]


def loader_refuses(text: str) -> bool:
    try:
        load_text(text, "rules.yaml", ENV)
    except RulesLoadError:
        return True
    return False


def test_the_committed_schema_is_the_one_the_models_make() -> None:
    committed = (ROOT / "rules.schema.json").read_text()
    assert committed == schema.text(), (
        "rules.schema.json is stale: run `kuflow-router rules schema > rules.schema.json`"
    )


def test_the_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(schema.build())


def _documented_rules() -> list[str]:
    """Every whole rules file of the docs' "Writing rules"."""
    section = (ROOT / "docs" / "rules.md").read_text()
    blocks = [block.split("```", 1)[0] for block in section.split("```yaml\n")[1:]]
    return [block for block in blocks if block.startswith("version: 1")]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param((ROOT / "rules.yaml").read_text(), id="rules.yaml"),
        *(
            pytest.param(text, id=f"docs/rules.md {n}")
            for n, text in enumerate(_documented_rules())
        ),
        pytest.param(HEAD + GOOD_RULE, id="minimal"),
    ],
)
def test_every_example_rules_file_passes(text: str) -> None:
    assert errors(text) == []
    assert not loader_refuses(text)
    assert (
        (ROOT / "rules.yaml")
        .read_text()
        .startswith("# yaml-language-server: $schema=./rules.schema.json\n")
    )


ALERT = "alerts:\n  - name: ops\n    when: [dead_letter]\n    send:\n      kuflow.append_log: {task_id: '{{ alert.process_id }}', message: '{{ alert.text }}'}\n"
RULE = "  - name: r\n    when: {type: PROCESS.CREATED}\n    do:\n      - "
BROKEN = {
    "unknown top-level key": HEAD.replace("rules:", "rulez: []\nrules:") + GOOD_RULE,
    "version 2": HEAD.replace("version: 1", "version: 2") + GOOD_RULE,
    "unknown connection type": HEAD.replace("type: kuflow,", "type: kuflo,") + GOOD_RULE,
    "connection without base_url": HEAD.replace('base_url: "https://kf.example/v2024-06-14", ', "") + GOOD_RULE,
    "unknown connection setting": HEAD.replace("client_secret: s}", "client_secret: s, secret: x}") + GOOD_RULE,
    "unknown operation": HEAD + RULE + "kuflow.create_tsk: {process_id: p, task_code: T}\n",
    "unknown parameter": HEAD + RULE + "kuflow.create_task: {process_id: p, task_code: T, owner: x}\n",
    "missing parameter": HEAD + RULE + "kuflow.create_task: {task_code: T}\n",
    "a level not in the list": HEAD + RULE + "kuflow.append_log: {task_id: '{{ data.x }}', message: m, level: WARNING}\n",
    "unknown matcher": HEAD + "  - name: r\n    when: {type: {prefx: P}}\n    do:\n      - kuflow.claim_task: {task_id: '{{ data.x }}'}\n",
    "numeric with a word": HEAD + "  - name: r\n    when: {data.n: {numeric: ['>=', ten]}}\n    do:\n      - kuflow.claim_task: {task_id: '{{ data.x }}'}\n",
    "a duration in words": HEAD.replace("rules:", "defaults: {timeout: 2 minutes}\nrules:") + GOOD_RULE,
    "no attempts": HEAD.replace("rules:", "defaults: {retry: {attempts: 0}}\nrules:") + GOOD_RULE,
    "a rule without do": HEAD + "  - name: r\n    when: {type: X}\n",
    "a rule name with a space": HEAD + GOOD_RULE.replace("name: r", "name: my rule"),
    "an unknown action option": HEAD + RULE + "kuflow.claim_task: {task_id: '{{ data.x }}'}\n        retries: 3\n",
    "a rate in words": HEAD.replace("client_secret: s}", "client_secret: s, limits: {rate: fast}}") + GOOD_RULE,
    "an unknown limit": HEAD.replace("client_secret: s}", "client_secret: s, limits: {rps: 5}}") + GOOD_RULE,
    "a breaker that opens at once": HEAD.replace("client_secret: s}", "client_secret: s, breaker: {open_after: 0}}") + GOOD_RULE,
    "an alert on an unknown failure": HEAD + GOOD_RULE + ALERT.replace("when: [dead_letter]", "when: [dead_letters]"),
    "an alert with on: (YAML reads it as true)": HEAD + GOOD_RULE + ALERT.replace("when:", "on:"),
    "an alert without send": HEAD + GOOD_RULE + ALERT.split("    send:")[0],
}  # fmt: skip


@pytest.mark.parametrize("name", list(BROKEN))
def test_the_schema_rejects_what_a_schema_can_express(name: str) -> None:
    text = BROKEN[name]
    assert errors(text), f"the schema accepts: {name}"
    assert loader_refuses(text), f"the loader accepts: {name}"


# Left to the loader, which reports them with file:line:column: they depend on other parts of
# the file, on template syntax, or on more than a key's shape.
LOADER_ONLY = {
    "an action on a connection not defined": HEAD + RULE + "crm.request: {method: GET, path: /x}\n",
    "two actions in one item": HEAD + RULE + "kuflow.claim_task: {task_id: '{{ data.x }}'}\n        kuflow.complete_task: {task_id: '{{ data.x }}'}\n",
    "an unknown template root": HEAD + RULE + "kuflow.claim_task: {task_id: '{{ dta.x }}'}\n",
    "results of no earlier action": HEAD + RULE + "kuflow.claim_task: {task_id: '{{ results.t.id }}'}\n",
    "a duplicate rule name": HEAD + GOOD_RULE + GOOD_RULE,
    "a regex that could backtrack": HEAD + "  - name: r\n    when: {data.x: {regex: '(a+)+b'}}\n    do:\n      - kuflow.claim_task: {task_id: '{{ data.x }}'}\n",
    "a literal that is no UUID": HEAD + RULE + "kuflow.claim_task: {task_id: not-a-uuid}\n",
    "an alert's template on event data": HEAD + GOOD_RULE + ALERT.replace("{{ alert.text }}", "{{ data.processId }}"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(LOADER_ONLY))
def test_what_only_the_loader_knows(name: str) -> None:
    text = LOADER_ONLY[name]
    assert loader_refuses(text), name
    if name != "a literal that is no UUID":  # the schema knows the format, not every editor does
        assert errors(text) == [], name


def test_every_setting_parameter_and_operation_is_described() -> None:
    document = schema.build()
    missing: list[str] = []
    for kind, connection_type in CONNECTION_TYPES.items():
        for name, info in connection_type.model.model_fields.items():
            if not info.description and name != "type":  # `type`: the catalogue's list
                missing.append(f"{kind} setting {name}")
        for op_name, operation in connection_type.operations.items():
            for model in _models(operation.params):
                for name, info in model.model_fields.items():
                    if not info.description:
                        missing.append(f"{kind}.{op_name} parameter {name} ({model.__name__})")
    assert missing == []
    assert "Event data can never change it" in json.dumps(document)  # a field's own words
    matchers = document["$defs"]["when"]["additionalProperties"]["anyOf"][2:]
    assert all(m["description"] and m["examples"] for m in matchers)


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    """`model` and the models of its fields (`find:`, `wait:`)."""
    found = [model]
    for info in model.model_fields.values():
        for inner in typing.get_args(info.annotation) or (info.annotation,):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                found += _models(inner)
    return found


def _descriptions(node: Any) -> int:
    if isinstance(node, dict):
        return ("description" in node) + sum(_descriptions(v) for v in node.values())
    if isinstance(node, list):
        return sum(_descriptions(v) for v in node)
    return 0


def test_an_editor_has_something_to_say_on_hover() -> None:
    assert _descriptions(schema.build()) > 150
