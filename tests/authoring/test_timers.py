"""Writing rules with `after:`/`unless:`: the loader's errors, `rules check`'s warnings, what
`rules test` says of a timer (waits, fires, cancels), cases about timers, and `rules diff`'s
orphaned timers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from authoring import lint, rules_history
from authoring.cases import Case, Expect, ExpectedRequest, run_case
from authoring.dryrun import dry_run, format_reports
from handlers.rules.errors import RulesLoadError
from handlers.rules.loader import load_text
from handlers.rules.source import read_yaml
from store import timers

HEAD = """\
version: 1
connections:
  kuflow: {type: kuflow, base_url: "https://kuflow.example", client_id: app, client_secret: s3cr3t-s3cr3t-s3cr3t-s3}
rules:
"""
REMIND = """\
  - name: remind
    when: {type: PROCESS_ITEM.CREATED, data.processItemDefinitionCode: REVIEW}
    after: 48h
    unless:
      event: {type: PROCESS_ITEM.TASK_STATE_CHANGED, data.processItemState: COMPLETED}
      same: [data.processItemId]
    do:
      - kuflow.append_log: {task_id: "{{ data.processItemId }}", message: "due {{ timer.due_at }} for {{ timer.started_by }}"}
"""
ITEM = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
DATA = {"processId": "p-1", "processItemId": ITEM, "processItemType": "TASK",
        "processItemDefinitionCode": "REVIEW"}  # fmt: skip
CREATED = {"id": "e-1", "type": "PROCESS_ITEM.CREATED", "timestamp": "2026-12-01T09:00:00Z",
           "data": {**DATA, "processItemState": "READY"}}  # fmt: skip
COMPLETED = {"id": "e-2", "type": "PROCESS_ITEM.TASK_STATE_CHANGED",
             "timestamp": "2026-12-01T10:00:00Z",
             "data": {**DATA, "processItemState": "COMPLETED"}}  # fmt: skip


def problems(rules: str) -> list[str]:
    with pytest.raises(RulesLoadError) as raised:
        load_text(HEAD + rules, "rules.yaml", {})
    return [p.message for p in raised.value.problems]


def warnings(rules: str) -> list[str]:
    load_text(HEAD + rules, "rules.yaml", {})
    return [p.message for p in lint.warnings(read_yaml(HEAD + rules, {}))]


def test_a_timer_rule_loads_with_its_wait_and_what_cancels_it() -> None:
    (rule,) = load_text(HEAD + REMIND, "rules.yaml", {}).rules
    assert rule.timer is not None and rule.timer.after_s == 48 * 3600
    assert rule.timer.same == ("data.processItemId",)
    assert load_text(HEAD + REMIND.replace("48h", "7d"), "r.yaml", {}).rules[0].timer.after_s == (  # type: ignore[union-attr]
        7 * 86400
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("    after: 48h\n", ""), "`unless:` needs `after:`"),
        (("after: 48h", "after: 0s"), "`after` waits more than nothing and at most 366d"),
        (("after: 48h", "after: 400d"), "at most 366d"),
        (("data.processItemState: COMPLETED", "process.state: COMPLETED"),
         "`unless.event` looks only at the event as it arrives (type, data.…), not at process.*"),
        (("same: [data.processItemId]", "same: [processItem.id]"),
         "`same` compares fields of the two events"),
        (("same: [data.processItemId]", "same: [data..x]"), "empty segment"),
    ],
)  # fmt: skip
def test_a_wrong_timer_is_refused_with_words_that_say_what_to_change(
    change: tuple[str, str], expected: str
) -> None:
    found = problems(REMIND.replace(*change))
    assert any(expected in message for message in found), found


def test_timer_fields_are_known_only_in_a_rule_that_waits() -> None:
    plain = REMIND.replace("    after: 48h\n", "").replace(
        REMIND[REMIND.index("    unless:") : REMIND.index("    do:")], ""
    )
    assert any("only in a rule with `after:`" in m for m in problems(plain))
    assert any("timer.due_at, timer.started_by" in m
               for m in problems(REMIND.replace("timer.due_at", "timer.when")))  # fmt: skip


def test_check_warns_of_a_missing_same_and_of_fields_the_two_events_do_not_share() -> None:
    assert warnings(REMIND) == []
    open_ended = warnings(REMIND.replace("      same: [data.processItemId]\n", ""))
    assert any("no `same:`" in w for w in open_ended)
    mistyped = warnings(REMIND.replace("[data.processItemId]", "[data.processState]"))
    assert any("starting events of this rule carry no data.processState" in w for w in mistyped)
    assert any("cancelling events of this rule carry no data.processState" in w for w in mistyped)
    state = warnings(REMIND.replace("processItemState: COMPLETED", "processItemState: COMPLETD"))
    assert any("never 'COMPLETD' — did you mean 'COMPLETED'?" in w for w in state)


def test_the_dry_run_says_what_a_timer_waits_for_and_what_it_sends_when_it_fires() -> None:
    rules = load_text(HEAD + REMIND, "rules.yaml", {})
    (waiting,) = dry_run(rules, CREATED)
    assert (waiting.status, waiting.timer, waiting.actions) == ("matched", "waits", [])
    text = format_reports([waiting])
    assert "would wait 48 h" in text and "data.processItemId" in text
    (early,) = dry_run(rules, CREATED, at_s=3600)
    assert early.timer == "waits"
    (fired,) = dry_run(rules, CREATED, at_s=48 * 3600)
    assert fired.timer == "fires"
    (request,) = fired.actions[0].requests
    assert request.json["message"] == "due 2026-12-03T09:00:00.000Z for e-1"
    (cancelling,) = dry_run(rules, COMPLETED)
    assert cancelling.status == "not matched" and f'"{ITEM}"' in cancelling.cancels


def case(event: dict[str, Any], expect: Expect, at_s: float | None = None) -> list[str]:
    rules = load_text(HEAD + REMIND, "rules.yaml", {})
    return run_case(rules, Case("c", event, None, None, expect, at_s)).failures


def test_cases_state_that_an_event_starts_fires_or_cancels_a_timer() -> None:
    assert case(CREATED, Expect(starts_timer=["remind"], requests=[])) == []
    assert case(CREATED, Expect(fires=["remind"])) == [
        "fires: remind's timer is not due yet: give the case `at: fired` or a duration"
    ]
    sent = ExpectedRequest(path=f"/{ITEM}/task/~actions/append-log")
    assert case(CREATED, Expect(fires=["remind"], requests=[sent]), math.inf) == []
    assert case(COMPLETED, Expect(cancels=["remind"])) == []
    assert case(CREATED, Expect(cancels=["remind"])) == ["cancels: remind's unless: does not match"]


@pytest.mark.anyio
async def test_diff_names_the_pending_timers_a_change_would_orphan(redis_url: str) -> None:
    current = load_text(HEAD + REMIND, "rules.yaml", {})
    renamed = load_text(HEAD + REMIND.replace("name: remind", "name: nudge"), "new.yaml", {})
    async with Redis.from_url(redis_url) as redis:
        start = timers.Start("remind", "e-1", "PROCESS_ITEM.CREATED", "", b"{}", 1, 10**13, "x")
        await timers.start(redis, start, 3600, timers.Caps())
        assert await rules_history.orphaned(redis, current, renamed) == [
            ("remind", 1, "removed or renamed")
        ]
        assert await rules_history.orphaned(redis, current, current) == []


DOCS = Path(__file__).resolve().parents[2] / "docs" / "timers.md"
DOC_HEAD = HEAD.replace(
    "rules:\n",
    """\
  shop: {type: ultracart, base_url: "https://secure.ultracart.com/rest/v2", api_key: k3y-k3y-k3y-k3y-k3y-k3}
  team: {type: http, base_url: "https://hooks.slack.com/services/T0/B0/x"}
rules:
""",
)


def test_the_documented_examples_load_and_check_clean() -> None:
    blocks = [b.split("```", 1)[0] for b in DOCS.read_text().split("```yaml\n")[1:]]
    rules = "".join(b for b in blocks if b.startswith("  - name:") and "\n    do:" in b)
    loaded = load_text(DOC_HEAD + rules, "timers.yaml", {})
    assert [r.name for r in loaded.rules] == [
        "remind-stale-review",
        "report-overdue",
        "release-unapproved-hold",
    ]
    assert all(r.timer is not None for r in loaded.rules)
    assert lint.warnings(read_yaml(DOC_HEAD + rules, {})) == []
