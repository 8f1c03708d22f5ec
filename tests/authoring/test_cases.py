"""Rule tests beside the rules (`rules test --cases`): the repository's own pass, a failing case
says what differs, JUnit for CI, and a broken cases file gets file:line:column problems."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

import pytest

from authoring.cases import Case, Expect, ExpectedRequest, load_cases, run_case
from handlers.rules.errors import RulesLoadError
from handlers.rules.loader import load_text
from kuflow_router.cli import main

ROOT = Path(__file__).resolve().parents[2]
RULES = """\
version: 1
connections:
  crm: {type: http, base_url: "https://crm.example/api", headers: {Authorization: Bearer x}}
rules:
  - name: tell-crm
    when: {type: PROCESS.CREATED}
    do:
      - crm.request: {method: POST, path: "/processes/{{ data.processId }}", json: {state: "{{ data.processState }}", n: 1}, query: {src: kr}}
      - crm.request: {method: GET, path: /ping}
  - name: broken
    when: {type: PROCESS.STATE_CHANGED}
    do:
      - crm.request: {method: POST, path: /x, json: {v: "{{ data.nothing }}"}}
"""
EVENT = {
    "id": "e-1",
    "type": "PROCESS.CREATED",
    "data": {"processId": "p-1", "processState": "RUNNING"},
}


def outcome(expect: Expect, event: dict[str, object] = EVENT) -> list[str]:
    rules = load_text(RULES, "rules.yaml", {})
    return run_case(rules, Case("c", dict(event), None, None, expect)).failures


def test_the_repository_cases_pass(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    for name in ("KUFLOW_CLIENT_ID", "CRM_TOKEN"):
        monkeypatch.delenv(name, raising=False)  # unset ${NAME}: placeholders, nothing is sent
    assert main(["rules", "test", "--cases", "rules.cases.yaml", "--rules", "rules.yaml"]) == 0
    assert "6 of 6 cases passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "expect",
    [
        pytest.param(Expect(matched=["tell-crm"]), id="matched-exactly"),
        pytest.param(Expect(matched_at_least=["tell-crm"], not_matched=["broken"]), id="at-least"),
        pytest.param(
            Expect(
                requests=[
                    ExpectedRequest(
                        method="post",
                        path="/processes/p-1",
                        body={"state": "RUNNING"},
                        query={"src": "kr"},
                    )
                ]
            ),
            id="subset",
        ),
        pytest.param(
            Expect(
                requests=[ExpectedRequest(path="/processes/p-1"), ExpectedRequest(path="/ping")]
            ),
            id="in-order",
        ),
    ],
)
def test_what_passes(expect: Expect) -> None:
    assert outcome(expect) == []


@pytest.mark.parametrize(
    ("expect", "said"),
    [
        pytest.param(Expect(matched=[]), "matched: expected [], actual ['tell-crm']", id="matched"),
        pytest.param(
            Expect(not_matched=["tell-crm"]), "not_matched: tell-crm matched", id="not-matched"
        ),
        pytest.param(
            Expect(requests=[ExpectedRequest(body={"state": "DONE"})]),
            "requests: no planned request",
            id="body",
        ),
        pytest.param(
            Expect(
                requests=[ExpectedRequest(path="/ping"), ExpectedRequest(path="/processes/p-1")]
            ),
            "requests: no planned request",
            id="order",
        ),
        pytest.param(
            Expect(error="nothing"), "error: expected one containing 'nothing'", id="error"
        ),
    ],
)
def test_what_fails_says_what_differs(expect: Expect, said: str) -> None:
    (failure,) = outcome(expect)
    assert failure.startswith(said)


def test_an_expected_template_error_passes_and_an_unexpected_one_fails() -> None:
    changed = {**EVENT, "type": "PROCESS.STATE_CHANGED"}
    assert outcome(Expect(error="data.nothing"), changed) == []
    assert outcome(Expect(), changed)[0].startswith("unexpected error: ")


def test_a_failing_case_exits_1_with_a_junit_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "event.json").write_text(
        '{"id": "e-1", "type": "PROCESS.CREATED", "version": "1", "timestamp": "2026-01-01T00:00:00Z", "data": {"processId": "p-1", "processState": "RUNNING"}}'
    )
    (tmp_path / "cases.yaml").write_text(
        "cases:\n"
        "  - {name: passes, event: event.json, expect: {matched: [tell-crm]}}\n"
        "  - {name: fails, event: {id: e-2, type: X, data: {}}, expect: {matched: [tell-crm]}}\n"
    )
    report = tmp_path / "junit.xml"
    code = main(["rules", "test", "--cases", str(tmp_path / "cases.yaml"), "--rules",
                 str(tmp_path / "rules.yaml"), "--junit-xml", str(report)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    assert "PASS  passes" in out and "FAIL  fails" in out
    assert "matched: expected ['tell-crm'], actual []" in out
    suite = ElementTree.parse(report).getroot()  # noqa: S314 (our own report)
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    (failure,) = suite.iter("failure")
    assert failure.get("message") == "matched: expected ['tell-crm'], actual []"


def test_a_broken_cases_file_gets_positions(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n"
        "  - name: a\n    event: missing.json\n    expect: {matched: []}\n"
        "  - name: b\n    event: {id: x}\n    expcet: {}\n"
    )
    with pytest.raises(RulesLoadError) as caught:
        load_cases(cases)
    text = str(caught.value)
    assert f"{cases}:3:5: cannot read {tmp_path / 'missing.json'}" in text
    assert f"{cases}:7:5: unknown key 'expcet' — did you mean 'expect'?" in text
