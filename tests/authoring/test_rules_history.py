"""The event log as test data: `rules test --event-id` re-runs a recorded event with what the
worker read from KuFlow; `rules diff` lists the recent events a change would treat differently.
And `rules test` as a gate: exit 1 on a template error, or with --expect-match on no match."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from kuflow_router.cli import main
from store import records
from store.queue import Enqueuer, QueueSettings
from tests.conftest import make_event

RULES = """\
version: 1
verify: false
connections:
  kuflow: {type: kuflow, base_url: "https://kf.example/v2024-06-14", client_id: i, client_secret: s}
  crm: {type: http, base_url: "https://crm.example/api", headers: {Authorization: "Bearer ${CRM_TOKEN}"}}
rules:
  - name: big-ones
    when: {type: PROCESS.CREATED, process.entity.value.amount: {numeric: [">=", 10000]}}
    do:
      - crm.request: {method: POST, path: /big, json: {id: "{{ data.processId }}"}}
  - name: ended
    when: {type: PROCESS.STATE_CHANGED}
    do:
      - crm.request: {method: POST, path: /ended, json: {id: "{{ data.processId }}"}}
"""


def store(redis_url: str, event: dict[str, Any], process: dict[str, Any] | None = None) -> None:
    async def go() -> None:
        async with Redis.from_url(redis_url) as client:
            await Enqueuer(client, QueueSettings(3600, 3600)).enqueue(
                event["id"], event["type"], json.dumps(event).encode()
            )
            if process is not None:
                enrichment = json.dumps({"process": process})
                await records.save(client, event["id"], 3600, {"enrichment": enrichment})

    asyncio.run(go())


@pytest.fixture
def files(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ROUTER_REDIS_URL", redis_url)
    monkeypatch.setenv("CRM_TOKEN", "crm-token-0123456789")
    (tmp_path / "rules.yaml").write_text(RULES)
    return tmp_path


def big(amount: int) -> dict[str, Any]:
    return {"id": "p", "state": "RUNNING", "entity": {"value": {"amount": amount}}}


def test_a_recorded_event_runs_with_what_the_worker_read(
    files: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    event = make_event()
    store(redis_url, event, big(25000))
    code = main(["rules", "test", "--event-id", event["id"].upper(), "--rules",
                 str(files / "rules.yaml")])  # fmt: skip
    assert code == 0
    assert "rule big-ones: MATCHED" in capsys.readouterr().out


def test_an_unknown_event_id_says_so(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "test", "--event-id", "nope", "--rules", str(files / "rules.yaml")]) == 1
    assert "no event nope in the event log" in capsys.readouterr().err


def test_diff_lists_only_the_events_a_change_affects(
    files: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    small, large, ended = make_event(), make_event(), make_event("PROCESS.STATE_CHANGED")
    store(redis_url, small, big(5000))
    store(redis_url, large, big(25000))
    store(redis_url, ended)
    new = files / "new.yaml"
    new.write_text(RULES.replace('">=", 10000', '">=", 1000').replace("/ended", "/closed"))
    assert main(["rules", "diff", str(new), "--rules", str(files / "rules.yaml")]) == 0
    out = capsys.readouterr().out
    assert f"event {small['id']}" in out and "matched: now ['ended']" not in out
    assert "matched: now [], with the change ['big-ones']" in out
    assert f"event {ended['id']}" in out and "ended: - POST https://crm.example/api/ended" in out
    assert "ended: + POST https://crm.example/api/closed" in out
    assert f"event {large['id']}" not in out
    assert "2 of 3 recent events would be handled differently" in out


def test_diff_of_a_broken_file_evaluates_nothing(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = files / "new.yaml"
    new.write_text(RULES.replace("numeric", "numerik"))
    assert main(["rules", "diff", str(new), "--rules", str(files / "rules.yaml")]) == 1
    captured = capsys.readouterr()
    assert "unknown matcher 'numerik'" in captured.err and "recent events" not in captured.out


def test_diff_with_no_events_says_so(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = str(files / "rules.yaml")
    assert main(["rules", "diff", rules, "--rules", rules, "--since", "1h"]) == 0
    assert "no recent events in the event log" in capsys.readouterr().out


def _event_file(files: Path, event: dict[str, Any]) -> str:
    path = files / "event.json"
    path.write_text(json.dumps(event))
    return str(path)


def test_the_gate_fails_on_no_match_when_asked(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = _event_file(files, make_event("PROCESS_ITEM.CREATED"))
    rules = str(files / "rules.yaml")
    assert main(["rules", "test", event, "--rules", rules]) == 0
    assert main(["rules", "test", event, "--rules", rules, "--expect-match"]) == 1
    assert "no rule matched (--expect-match)" in capsys.readouterr().err


def test_the_gate_fails_on_a_template_error(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (files / "rules.yaml").write_text(RULES.replace("data.processId", "data.processID"))
    event = _event_file(files, make_event("PROCESS.STATE_CHANGED"))
    assert main(["rules", "test", event, "--rules", str(files / "rules.yaml")]) == 1
    assert "ended: crm.request:" in capsys.readouterr().err


def test_a_process_of_another_event_is_pointed_out(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = _event_file(files, make_event())
    process = files / "process.json"
    process.write_text(json.dumps(big(25000)))
    main(["rules", "test", event, "--rules", str(files / "rules.yaml"), "--process", str(process)])
    assert (
        "warning: the process given has id p, the event's processId is" in capsys.readouterr().err
    )


def test_made_up_results_are_marked_as_stand_ins(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = RULES.replace("/ended, json", "/ended, json").replace(
        '      - crm.request: {method: POST, path: /ended, json: {id: "{{ data.processId }}"}}\n',
        '      - crm.request: {method: POST, path: /ended, json: {id: "{{ data.processId }}"}}\n'
        "        as: ticket\n"
        '      - crm.request: {method: POST, path: "/tickets/{{ results.ticket.id }}/close"}\n',
    )
    (files / "rules.yaml").write_text(text)
    event = _event_file(files, make_event("PROCESS.STATE_CHANGED"))
    assert main(["rules", "test", event, "--rules", str(files / "rules.yaml")]) == 0
    assert "as ticket: a STAND-IN" in capsys.readouterr().out


def test_late_is_what_rules_on_ordering_late_see(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = RULES + (
        "  - name: skip-stale\n    when: {ordering.late: true}\n    do:\n"
        "      - crm.request: {method: POST, path: /stale}\n"
    )
    (files / "rules.yaml").write_text(stale)
    event = _event_file(files, make_event("PROCESS.STATE_CHANGED"))
    main(["rules", "test", event, "--rules", str(files / "rules.yaml")])
    assert "rule skip-stale: NOT MATCHED" in capsys.readouterr().out
    main(["rules", "test", event, "--rules", str(files / "rules.yaml"), "--late"])
    assert "rule skip-stale: MATCHED" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["test", "diff"])
def test_an_unset_variable_shows_as_itself_and_fails_unless_accepted(
    files: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    monkeypatch.delenv("CRM_TOKEN")
    rules = str(files / "rules.yaml")
    event = files / "event.json"
    event.write_text(json.dumps(make_event(data={"processId": str(uuid.uuid4()),
                                                 "processState": "RUNNING"})))  # fmt: skip
    first = [str(event)] if command == "test" else [rules]
    assert main(["rules", command, *first, "--rules", rules]) == 1
    out, err = capsys.readouterr()
    assert "${CRM_TOKEN} not set" in err and "--placeholders" in err
    assert "[redacted]" not in out
    assert main(["rules", command, *first, "--rules", rules, "--placeholders"]) == 0
    assert "warning: ${CRM_TOKEN} not set" in capsys.readouterr().err
