"""KuFlow-aware warnings: a type, value or data field KuFlow never sends, with its position and
a "did you mean"; none for the tutorial; exit 1 only with --strict."""

from __future__ import annotations

from pathlib import Path

import pytest

from authoring.lint import warnings
from handlers.rules.source import read_yaml
from kuflow_router.cli import main

HEAD = (
    'version: 1\nconnections:\n  crm: {type: http, base_url: "https://crm.example/api"}\nrules:\n'
)
DO = "    do:\n      - crm.request: {method: POST, path: /x}\n"


def said(when: str, do: str = DO) -> list[str]:
    source = read_yaml(HEAD + f"  - name: r\n    when: {when}\n" + do, {})
    return [f"{p.line}:{p.column}: {p.message}" for p in warnings(source)]


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        pytest.param(
            "{type: PROCESS.STATE_CHANGE}",
            "6:12: KuFlow sends no event of type 'PROCESS.STATE_CHANGE' — did you mean 'PROCESS.STATE_CHANGED'?",
            id="type",
        ),
        pytest.param(
            "{type: [PROCESS.CREATED, PROCES.CREATED]}",
            "6:12: KuFlow sends no event of type 'PROCES.CREATED' — did you mean 'PROCESS.CREATED'?",
            id="type-in-a-list",
        ),
        pytest.param(
            "{type: PROCESS.STATE_CHANGED, data.processState: CANCELED}",
            "6:41: KuFlow's processState is never 'CANCELED' — did you mean 'CANCELLED'?",
            id="enum",
        ),
        pytest.param(
            "{data.processItemState: {anything-but: CLAMED}}",
            "6:12: KuFlow's processItemState is never 'CLAMED' — did you mean 'CLAIMED'?",
            id="anything-but",
        ),
        pytest.param(
            "{type: PROCESS_ITEM.CREATED, data.processItemDefinitonCode: {prefix: X}}",
            "6:40: the events of this rule carry no data.processItemDefinitonCode — did you mean 'processItemDefinitionCode'?",
            id="field",
        ),
        pytest.param(
            "{type: PROCESS.CREATED, any: [{data.processItemType: TASK}]}",
            "6:42: the events of this rule carry no data.processItemType — did you mean 'processState'?",
            id="field-of-another-type",
        ),
    ],
)
def test_what_kuflow_never_sends_is_pointed_out(when: str, expected: str) -> None:
    assert said(when) == [expected]


def test_a_template_reading_a_field_the_events_lack() -> None:
    do = '    do:\n      - crm.request: {method: POST, path: /x, json: {id: "{{ data.procesId }}"}}\n'
    (warning,) = said("{type: PROCESS.CREATED}", do)
    assert warning.endswith(
        "{{ data.procesId }}: the events of this rule carry no data.procesId — did you mean 'processId'?"
    )


@pytest.mark.parametrize(
    "when",
    [
        "{type: PROCESS.CREATED, data.processState: RUNNING}",
        "{type: PROCESS_ITEM.TASK_STATE_CHANGED, data.processItemState: [COMPLETED, CANCELLED]}",
        "{data.processId: {exists: true}}",
        "{type: {equals-ignore-case: process.created}}",
        "{process.state: DONE}",  # process.* is KuFlow's object, read at run time
    ],
)
def test_what_kuflow_sends_is_not_warned_about(when: str) -> None:
    assert said(when) == []


def test_check_warns_but_passes_unless_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        HEAD
        + "  - name: r\n    when: {type: PROCESS.STATE_CHANGED, data.processState: CANCELED}\n"
        + DO
    )
    assert main(["rules", "check", str(path)]) == 0
    captured = capsys.readouterr()
    assert f"{path}:6:41: warning: KuFlow's processState is never 'CANCELED'" in captured.err
    assert "OK — 1 rule, 1 connection, 1 warning" in captured.out
    assert main(["rules", "check", "--strict", str(path)]) == 1
    said = capsys.readouterr().out
    assert "failed (--strict: warnings count as problems)" in said and "OK" not in said


@pytest.mark.parametrize(
    "matcher",
    ["{prefix: PROCESS.}", "{wildcard: 'PROCESS*'}", "{anything-but: PROCESS.CREATED}",
     "{regex: 'PROCESS\\..*'}", "{exists: true}", "[PROCESS.CREATED, {prefix: X}]"],
)  # fmt: skip
def test_a_type_condition_that_matches_types_kuflow_never_sends(matcher: str) -> None:
    warned = [w for w in said(f"{{type: {matcher}}}") if "never sends (a forged" in w]
    assert len(warned) == 1 and warned[0].startswith("6:12: this type condition also matches")


def test_a_rule_that_skips_verification_is_pointed_out() -> None:
    (warning,) = said("{type: PROCESS.CREATED}\n    verify: skip")
    assert warning.startswith("7:5: verify: skip — this rule acts on events KuFlow does not vouch")


def test_replacing_the_entity_is_pointed_out_with_the_fields_it_drops() -> None:
    text = (
        "version: 1\nconnections:\n"
        "  kf: {type: kuflow, base_url: https://kf.example/v1, client_id: i, client_secret: s}\n"
        "rules:\n  - name: r\n    when: {type: PROCESS.CREATED, process.entity.value.orderId: "
        "{exists: true}}\n    do:\n      - kf.update_process_entity:\n"
        '          process_id: "{{ data.processId }}"\n'
        '          entity: {amount: "{{ process.entity.value.amount }}"}\n'
    )
    (warning,) = [f"{p.line}:{p.column}: {p.message}" for p in warnings(read_yaml(text, {}))]
    assert warning.startswith("8:9: update_process_entity replaces the whole entity")
    assert "this rule reads orderId, which it would drop" in warning
    assert "kf.patch_process_entity with set:" in warning
