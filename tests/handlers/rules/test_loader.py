"""Loading rules.yaml: every problem reported, each at its exact line:column, with a hint."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.clients.base import secret_settings
from handlers.clients.catalogue import CONNECTION_TYPES
from handlers.rules.errors import RulesLoadError
from handlers.rules.loader import load_file, load_text

HEAD = """\
version: 1
connections:
  kuflow:
    type: kuflow
    base_url: https://api.kuflow.com/v2024-06-14
    client_id: id
    client_secret: secret
rules:
"""  # the rules start on line 9


def problems(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(RulesLoadError) as caught:
        load_text(text, "rules.yaml", environ or {})
    return [f"{p.line}:{p.column}: {p.message}" for p in caught.value.problems]


def rule(body: str) -> str:
    return HEAD + textwrap.indent(textwrap.dedent(body), "  ")


GOOD_ACTION = """\
  do:
    - kuflow.complete_task: {task_id: "{{ data.processItemId }}"}
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "version: 1\nrules: [\n",
            "3:1: the file ends inside a '[' or '{' that is never closed",
            id="yaml-syntax",
        ),
        pytest.param("- just\n- a list\n", "1:1: the file must be a mapping", id="not-a-mapping"),
        pytest.param("version: 2\nrules: []\n", "1:1: version: Input should be 1", id="version"),
        pytest.param(
            "version: 1\nrulse: []\n",
            "2:1: unknown key 'rulse' — did you mean 'rules'?",
            id="top-key",
        ),
        pytest.param(
            "version: 1\nrules: !!python/object:os.system x\n",
            "2:8: unsupported YAML tag tag:yaml.org,2002:python/object:os.system",
            id="python-tag",
        ),
        pytest.param(
            "version: 1\nversion: 1\n",
            "2:1: duplicate key 'version' (first defined at line 1)",
            id="dup-top",
        ),
        pytest.param(
            rule("- name: a\n  when: {type: X, type: Y}\n" + GOOD_ACTION),
            "10:21: duplicate key 'type' (first defined at line 10)",
            id="dup-deep",
        ),
        pytest.param(
            HEAD.replace("client_secret: secret", "client_secret: ${KUFLOW_SECRET}") + "  []\n",
            "7:5: environment variable KUFLOW_SECRET is not set (referenced as ${KUFLOW_SECRET}); set it, or put it in .env",
            id="unset-env",
        ),
        pytest.param(
            HEAD.replace("type: kuflow", "type: kuflw") + "  []\n",
            "4:5: unknown connection type 'kuflw' — did you mean 'kuflow'?",
            id="connection-type",
        ),
        pytest.param(
            HEAD.replace("client_id: id", "clientid: id") + "  []\n",
            "6:5: unknown key 'clientid' — did you mean 'client_id'?",
            id="connection-key",
        ),
        pytest.param(
            HEAD.replace("https://api.kuflow.com/v2024-06-14", "api.kuflow.com") + "  []\n",
            "5:5: base_url: must be an absolute http(s) URL",
            id="connection-url",
        ),
        pytest.param(
            rule("- nam: a\n  when: {type: X}\n" + GOOD_ACTION),
            "9:5: unknown key 'nam' — did you mean 'name'?",
            id="rule-key",
        ),
        pytest.param(
            rule("- name: a\n" + GOOD_ACTION), "9:5: missing required key 'when'", id="rule-no-when"
        ),
        pytest.param(
            rule("- name: a\n  when: {type: X}\n  do: []\n"),
            "11:5: do: List should have at least 1 item",
            id="rule-no-do",
        ),
        pytest.param(
            rule("- name: a b\n  when: {type: X}\n" + GOOD_ACTION),
            "9:5: name: String should match pattern",
            id="rule-name",
        ),
        pytest.param(
            rule(
                "- name: a\n  when: {type: X}\n"
                + GOOD_ACTION
                + "- name: a\n  when: {type: Y}\n"
                + GOOD_ACTION
            ),
            "13:5: duplicate rule name 'a' (also at line 9)",
            id="dup-rule-name",
        ),
        pytest.param(
            rule("- name: a\n  when:\n    data.x: {prefx: LOAN}\n" + GOOD_ACTION),
            "11:16: unknown matcher 'prefx' — did you mean 'prefix'?",
            id="matcher-name",
        ),
        pytest.param(
            rule("- name: a\n  when:\n    data.x: {prefix: a, suffix: b}\n" + GOOD_ACTION),
            "11:7: a matcher has exactly one key",
            id="matcher-two-keys",
        ),
        pytest.param(
            rule("- name: a\n  when:\n    data.x: {regex: '(a'}\n" + GOOD_ACTION),
            "11:16: invalid regex '(a': missing ), unterminated subpattern",
            id="regex",
        ),
        pytest.param(
            rule("- name: a\n  when:\n    data.x: {numeric: ['>>', 1]}\n" + GOOD_ACTION),
            "11:16: unknown comparison '>>' — did you mean '>'?",
            id="numeric-operator",
        ),
        pytest.param(
            rule("- name: a\n  when:\n    data.x: {exists: yes please}\n" + GOOD_ACTION),
            "11:16: `exists` takes true or false",
            id="exists-arg",
        ),
        pytest.param(
            rule("- name: a\n  when:\n    dta.x: 1\n" + GOOD_ACTION),
            "11:7: unknown path root 'dta' — did you mean 'data'?",
            id="path-root",
        ),
        pytest.param(
            rule("- name: a\n  when:\n    data..x: 1\n" + GOOD_ACTION),
            "11:7: 'data..x' has an empty segment",
            id="path-empty-segment",
        ),
        pytest.param(
            rule("- name: a\n  when:\n    any: {type: X}\n" + GOOD_ACTION),
            "11:7: `any` takes a non-empty list of patterns",
            id="any-not-list",
        ),
        pytest.param(
            rule("- name: a\n  when: {type: X}\n  do:\n    - kuflw.complete_task: {task_id: x}\n"),
            "12:9: unknown connection 'kuflw' — did you mean 'kuflow'?",
            id="action-connection",
        ),
        pytest.param(
            rule("- name: a\n  when: {type: X}\n  do:\n    - kuflow.complete_tsk: {task_id: x}\n"),
            "12:9: 'complete_tsk' is not an operation of connection 'kuflow' (type kuflow) — did you mean 'complete_task'?",
            id="action-operation",
        ),
        pytest.param(
            rule("- name: a\n  when: {type: X}\n  do:\n    - kuflow.complete_task: {taskid: x}\n"),
            "12:32: unknown parameter 'taskid' of kuflow.complete_task — did you mean 'task_id'?",
            id="action-param",
        ),
        pytest.param(
            rule("- name: a\n  when: {type: X}\n  do:\n    - kuflow.complete_task: {}\n"),
            "12:9: kuflow.complete_task needs the parameter 'task_id'",
            id="action-missing-param",
        ),
        pytest.param(
            rule(
                "- name: a\n  when: {type: X}\n  do:\n    - kuflow.complete_task: {task_id: x}\n      kuflow.claim_task: {task_id: x}\n"
            ),
            "12:9: each item of `do` is one action",
            id="two-actions-in-one-item",
        ),
        pytest.param(
            rule(
                "- name: a\n  when: {type: X}\n  do:\n    - kuflow.complete_task: {task_id: x}\n      ass: r\n"
            ),
            "13:9: unknown key 'ass' — did you mean 'as'?",
            id="action-option",
        ),
        pytest.param(
            rule(
                "- name: a\n  when: {type: X}\n  do:\n    - kuflow.complete_task: {task_id: '{{ dat.x }}'}\n"
            ),
            "12:32: unknown template root 'dat' — did you mean 'data'?",
            id="template-root",
        ),
        pytest.param(
            rule(
                "- name: a\n  when: {type: X}\n  do:\n    - kuflow.complete_task: {task_id: '{{ results.t.id }}'}\n"
            ),
            "12:32: {{ results.t.id }}: no earlier action of this rule has `as: t`",
            id="template-results",
        ),
        pytest.param(
            rule(
                "- name: a\n  when: {type: X}\n  do:\n    - kuflow.complete_task: {task_id: '{{ data.x | upcase }}'}\n"
            ),
            "12:32: unknown filter 'upcase' (expected one of: default, lower, upper, json)",
            id="template-filter",
        ),
        pytest.param(
            rule(
                "- name: a\n  when: {type: X}\n  do:\n    - kuflow.complete_task: {task_id: '{{ 7*7 }}'}\n"
            ),
            "12:32: '{{ 7*7 }}' is not a template",
            id="template-expression",
        ),
        pytest.param(
            rule(
                "- name: a\n  when: {type: X}\n  retry: {attempts: 3, initial: soon}\n"
                + GOOD_ACTION
            ),
            "11:26: initial: 'soon' is not a duration",
            id="duration",
        ),
        pytest.param(
            "version: 1\nrules:\n  - name: a\n    when: {process.state: RUNNING}\n    do:\n      - x.y: {}\n",
            "6:9: unknown connection 'x'",
            id="no-connections",
        ),
        pytest.param(
            "version: 1\nconnections:\n  crm: {type: http, base_url: 'https://x.example'}\n"
            "rules:\n  - name: a\n    when: {process.state: RUNNING}\n"
            "    do:\n      - crm.request: {method: GET, path: /x}\n",
            "5:5: rule 'a' uses process.* but no connection of type kuflow is defined to fetch it",
            id="enrichment-without-kuflow",
        ),
    ],
)
def test_each_problem_is_reported_at_its_position(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_reported_not_just_the_first() -> None:
    text = rule(
        "- name: a\n  when:\n    dta.x: 1\n    data.y: {prefx: a}\n"
        "  do:\n    - kuflow.complete_tsk: {}\n"
        "- name: b\n  when: {type: X}\n  do:\n    - kuflow.claim_task: {taskid: x}\n"
    )
    found = problems(text)
    assert len(found) == 5, found
    assert found == sorted(found, key=lambda p: tuple(int(n) for n in p.split(":")[:2]))


def test_file_errors_name_the_file(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "broken.yaml"  # type: ignore[operator]
    path.write_text("version: 1\nrulse: []\n")
    with pytest.raises(RulesLoadError) as caught:
        load_file(path, {})
    assert str(caught.value) == f"{path}:2:1: unknown key 'rulse' — did you mean 'rules'?"
    with pytest.raises(RulesLoadError, match="cannot read the file"):
        load_file(path.parent / "missing.yaml", {})


def test_env_values_never_add_structure() -> None:
    text = HEAD.replace("client_secret: secret", "client_secret: ${S}") + "  []\n"
    rules = load_text(text, "rules.yaml", {"S": "x\nextra: {injected: true}"})
    assert rules.connections["kuflow"].client_secret == "x\nextra: {injected: true}"  # type: ignore[attr-defined]


def test_an_empty_rule_list_loads() -> None:
    assert load_text("version: 1\nrules: []\n", "rules.yaml", {}).rules == ()


yaml_texts = st.one_of(
    st.text(max_size=200),
    st.lists(
        st.sampled_from(
            [
                "version: 1",
                "rules:",
                "  - name: a",
                "    when: {type: X}",
                "    do:",
                "      - k.x: {}",
                "connections:",
                "  k: {type: kuflow}",
                "- [",
                "{{",
                "&a [1]",
                "*a",
                "  ",
                ": :",
                "\t",
            ]
        ),
        max_size=12,
    ).map("\n".join),
)


@settings(max_examples=300)
@given(text=yaml_texts)
def test_arbitrary_yaml_never_crashes_the_loader(text: str) -> None:
    try:
        load_text(text, "fuzz.yaml", {})
    except RulesLoadError as exc:
        assert exc.problems
        assert all(p.line >= 1 and p.column >= 1 for p in exc.problems)


def test_literal_parameters_are_checked_at_load() -> None:
    found = problems(
        rule(
            "- name: a\n  when: {type: X}\n  do:\n"
            "    - kuflow.append_log: {task_id: '{{ data.t }}', message: m, level: WARNING}\n"
            "    - kuflow.claim_task: {task_id: not-a-uuid}\n"
        )
    )
    assert found == [
        "12:66: level: Input should be 'INFO', 'WARN' or 'ERROR'",
        "13:29: task_id: Input should be a valid UUID, invalid character: found `n` at 0",
    ]


def test_an_unset_variable_is_reported_once_not_with_what_follows_from_it() -> None:
    text = HEAD.replace(
        "base_url: https://api.kuflow.com/v2024-06-14", "base_url: ${KUFLOW_URL}/v2024-06-14"
    ) + textwrap.indent(
        "- name: a\n  when: {type: X, process.state: RUNNING}\n" + GOOD_ACTION, "  "
    )
    assert problems(text) == [
        "5:5: environment variable KUFLOW_URL is not set (referenced as ${KUFLOW_URL}); "
        "set it, or put it in .env"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "version: 1\nrules:\n  - name: a\n      when: {type: X}\n",
            "4:11: a ':' where a value was expected — this line is indented deeper",
            id="indented-deeper",
        ),
        pytest.param(
            "version: 1\nconnections:\n  kuflow:\n    type: kuflow\n   base_url: x\n",
            "5:4: this key is indented less than the keys above it",
            id="indented-between",
        ),
        pytest.param(
            "version: 1\nrules:\n\t- name: a\n",
            "3:1: a tab character: YAML is indented with spaces only",
            id="tab",
        ),
        pytest.param(
            'version: 1\nrules:\n  - name: "a\n    when: {}\n',
            "3:11: a quoted value that starts here is never closed",
            id="unclosed-quote",
        ),
        pytest.param(
            "version: 1\nrules\n  - name: a\n",
            "2:1: a key without ':' after it",
            id="missing-colon",
        ),
        pytest.param(
            "version: 1\nrules:\n  - name: a\n    when: {type: X\n    do: []\n",
            "4:11: a '{' that starts here is not closed by '}'",
            id="unclosed-brace",
        ),
        pytest.param(
            "version: 1\nrules:\n  - name: a\n    when: {type: X}\n    do:\n      - x: {{ id }}\n",
            "6:13: a key must be a plain string; a {{ template }} as a value needs quotes",
            id="unquoted-template",
        ),
    ],
)
def test_yaml_mistakes_are_told_in_plain_words_at_their_line(text: str, expected: str) -> None:
    assert any(p.startswith(expected) for p in problems(text)), problems(text)


def test_the_files_defaults_also_govern_reading_from_kuflow() -> None:
    from handlers.rules.model import RetryPolicy

    text = HEAD.replace(
        "rules:\n", "defaults: {retry: {attempts: 3, initial: 10ms}, timeout: 2s}\nrules:\n"
    )
    rules = load_text(text + "  []\n", "rules.yaml", {})
    assert rules.retry == RetryPolicy(3, 0.01, 600.0)
    assert rules.timeout_s == 2.0


def test_limits_breakers_and_alerts_are_checked_at_their_positions() -> None:
    text = """\
version: 1
connections:
  crm:
    type: http
    base_url: https://crm.example
    limits: {rate: fast, concurency: 5}
    breaker: {open_after: 0}
  chat: {type: http, base_url: https://hooks.slack.com}
alerts:
  - name: ops
    send: {chat.slack: {}}
  - name: ops
    text: "{{ data.processId }} {{ alert.eror }}"
    send: {chat.slak: {}}
  - name: other
    when: [dead_letter, breaker_open]
    send: {chat.teams: {}}
rules: []
"""
    assert problems(text) == [
        "6:14: rate: 'fast' is not a rate; write e.g. 20/s, 100/m or 1000/h",
        "6:26: unknown key 'concurency' — did you mean 'concurrency'?",
        "7:15: open_after: Input should be greater than or equal to 1",
        "12:5: duplicate alert name 'ops'",
        "13:5: an alert's templates use only alert.*, e.g. {{ alert.text }}; not 'data'",
        "13:5: unknown field 'alert.eror' — did you mean 'error'?",
        "14:12: 'slak' is not an operation of connection 'chat' (type http) — did you mean "
        "'slack'?",
        "16:25: 1: Input should be 'dead_letter', 'breaker_opened', 'breaker_closed' or "
        "'reload_failed'",
    ]


def test_a_connection_s_limits_and_breaker_load_with_their_defaults() -> None:
    rules = load_text(
        "version: 1\nconnections:\n"
        "  a: {type: http, base_url: 'https://a.example', limits: {rate: 100/m}}\n"
        "  b: {type: http, base_url: 'https://b.example', breaker: false}\n",
        "rules.yaml",
        {},
    )
    a, b = rules.connections["a"], rules.connections["b"]
    assert a.limits is not None and a.limits.describe() == "rate 100/m, burst 2"
    assert a.breaker is not None and (a.breaker.open_after, a.breaker.cooldown) == (5, 30.0)
    assert b.limits is None and b.breaker is None


def test_a_broken_template_is_one_problem_not_two() -> None:
    text = rule(
        """\
        - name: r
          when: {type: PROCESS.CREATED}
          do:
            - kuflow.complete_process: {process_id: "{{ data.processId | nope }}"}
            - kuflow.create_task: {process_id: "{{ data.processId", task_code: X}
        """
    )
    found = problems(text)
    assert len(found) == 2, found
    assert any("unknown filter 'nope'" in p for p in found)
    assert any("is not closed by '}}'" in p for p in found)
    assert not any("UUID" in p for p in found)


def test_the_secrets_are_the_settings_each_connection_type_marks() -> None:
    marked = {kind: sorted(secret_settings(t.model)) for kind, t in CONNECTION_TYPES.items()}
    assert marked == {
        "kuflow": ["client_id", "client_secret"],
        "ultracart": ["api_key"],
        "alteryx": ["client_id", "client_secret"],
        "nerm": ["token"],
        "http": ["headers"],
    }
