"""`kuflow-router rules check` and `rules test`, as a rule author runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kuflow_router.cli import main
from tests.authoring.test_dryrun import ENV, EXAMPLES, ROOT


@pytest.fixture(autouse=True)
def _tutorial_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(ROOT)


def test_check_accepts_the_tutorial(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "check"]) == 0
    assert capsys.readouterr().out == "rules.yaml: OK — 6 rules, 5 connections\n"


def test_check_lists_every_problem_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "rules.yaml"
    broken.write_text("version: 1\nrulse: []\nconnections: {x: {type: kuflw}}\n")
    assert main(["rules", "check", str(broken)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{broken}:2:1: unknown key 'rulse' — did you mean 'rules'?",
        f"{broken}:3:19: unknown connection type 'kuflw' — did you mean 'kuflow'?",
        f"{broken}: 2 problems",
    ]


def test_check_uses_router_rules_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("version: 1\nrules: []\n")
    monkeypatch.setenv("ROUTER_RULES_FILE", str(other))
    assert main(["rules", "check"]) == 0
    assert str(other) in capsys.readouterr().out


def test_test_prints_matches_and_requests(capsys: pytest.CaptureFixture[str]) -> None:
    event = str(EXAMPLES / "events" / "process-created.json")
    code = main(["rules", "test", event, "--process", str(EXAMPLES / "process.json")])
    out = capsys.readouterr().out
    assert code == 0
    assert "rule start-loan-review: MATCHED" in out
    assert "POST https://api.kuflow.com/v2024-06-14/process-items" in out
    assert "rule report-on-completion: NOT MATCHED — type: expected equals" in out
    assert out.rstrip().endswith("1 of 6 rules matched")


def test_test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    event = str(EXAMPLES / "events" / "process-state-changed.json")
    assert (
        main(["rules", "test", event, "--json", "--process", str(EXAMPLES / "process.json")]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    crm = next(r for r in report if r["rule"] == "crm-process-ended")
    assert crm["actions"][0]["requests"][0]["url"] == (
        "https://crm.example.com/api/processes/4c2e1b7a-9d3f-4e6a-8b1c-5f7d9e2a3b4c/events"
    )


def test_test_refuses_an_invalid_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "event.json"
    bad.write_text('{"id": "nope"}')
    assert main(["rules", "test", str(bad)]) == 1
    assert "not a valid KuFlow event: id: must be a UUID" in capsys.readouterr().err


def test_test_refuses_broken_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "rules.yaml"
    broken.write_text("version: 1\nrules: [{name: a}]\n")
    event = str(EXAMPLES / "events" / "process-created.json")
    assert main(["rules", "test", event, "--rules", str(broken)]) == 1
    assert "missing required key 'when'" in capsys.readouterr().err
