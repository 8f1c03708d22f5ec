"""`rules test` on the tutorial rules.yaml and the sample events: documentation that runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from authoring.dryrun import dry_run, format_reports
from handlers.rules.loader import load_file
from handlers.rules.model import RuleSet

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
ENV = {
    name: f"test-{name.lower()}"
    for name in (
        "KUFLOW_CLIENT_ID",
        "KUFLOW_CLIENT_SECRET",
        "ULTRACART_SIMPLE_KEY",
        "ALTERYX_CLIENT_ID",
        "ALTERYX_CLIENT_SECRET",
        "NERM_API_TOKEN",
        "CRM_TOKEN",
    )
}


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text())


@pytest.fixture(scope="module")
def tutorial() -> RuleSet:
    return load_file(ROOT / "rules.yaml", ENV)


def test_tutorial_uses_every_connection_type(tutorial: RuleSet) -> None:
    assert {c.type for c in tutorial.connections.values()} == {
        "kuflow",
        "ultracart",
        "alteryx",
        "nerm",
        "http",
    }


def test_every_tutorial_rule_matches_a_sample_event(tutorial: RuleSet) -> None:
    matched = set()
    for event_file in sorted((EXAMPLES / "events").glob("*.json")):
        reports = dry_run(
            tutorial,
            json.loads(event_file.read_text()),
            example("process.json"),
            example("process-item.json"),
        )
        for report in reports:
            assert all(not a.error for a in report.actions), report
            if report.status == "matched":
                matched.add(report.name)
    assert matched == {rule.name for rule in tutorial.rules}


def test_process_created_sends_exactly_this(tutorial: RuleSet) -> None:
    event = example("events/process-created.json")
    reports = dry_run(tutorial, event, example("process.json"))
    review = next(r for r in reports if r.name == "start-loan-review")
    create, log = review.actions
    (request,) = create.requests
    assert request.method == "POST"
    assert request.full_url == "https://api.kuflow.com/v2024-06-14/process-items"
    assert (
        request.json
        == {
            "id": "9de6e9a7-bc6a-5f14-a8c4-d3a3d858b3a2",  # uuid5(NAMESPACE, "{event}/start-loan-review/0")
            "type": "TASK",
            "processId": "4c2e1b7a-9d3f-4e6a-8b1c-5f7d9e2a3b4c",
            "processItemDefinitionCode": "LOAN_REVIEW",
            "ownerEmail": "ana.garcia@example.com",
            "task": {"data": {"value": {"customer": "ACME Corp", "amount": 25000}}},
        }
    )
    assert log.requests[0].full_url == (
        "https://api.kuflow.com/v2024-06-14/process-items/"
        "9de6e9a7-bc6a-5f14-a8c4-d3a3d858b3a2/task/~actions/append-log"
    )


def test_rules_needing_process_are_not_evaluated_without_it(tutorial: RuleSet) -> None:
    reports = dry_run(tutorial, example("events/process-created.json"))
    review = next(r for r in reports if r.name == "start-loan-review")
    assert review.status == "not evaluated"
    assert "--process P.json" in review.reason
    text = format_reports(reports)
    assert "rule start-loan-review: NOT EVALUATED — needs process.*" in text
    assert "0 of 6 rules matched" in text


def test_not_matched_says_which_condition_failed(tutorial: RuleSet) -> None:
    reports = dry_run(tutorial, example("events/process-item-created.json"))
    onboarding = next(r for r in reports if r.name == "contractor-onboarding")
    assert onboarding.status == "not matched"
    assert onboarding.reason == (
        "data.processItemDefinitionCode: expected regex 'ONBOARD(ING)?_[A-Z_]+' (full match), "
        "actual 'LOAN_REVIEW'"
    )
