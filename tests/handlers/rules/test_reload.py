"""Hot reload: on file change and on SIGHUP; a bad file keeps the last good rules."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from handlers.rules.errors import RulesLoadError
from handlers.rules.model import RuleSet
from handlers.rules.reload import LiveRules

ONE_RULE = """\
version: 1
connections:
  crm: {type: http, base_url: "https://crm.example"}
rules:
  - name: first
    when: {type: PROCESS.CREATED}
    do:
      - crm.request: {method: POST, path: /a}
"""
TWO_RULES = (
    ONE_RULE
    + """\
  - name: second
    when: {type: PROCESS.STATE_CHANGED}
    do:
      - crm.request: {method: POST, path: /b}
"""
)
BROKEN = ONE_RULE.replace("type: PROCESS.CREATED", "typ: PROCESS.CREATED")


def failures() -> float:
    return REGISTRY.get_sample_value("router_rules_reload_failures_total") or 0.0


def write(path: Path, text: str) -> None:
    """Replace the file as editors and ConfigMaps do: a new inode, so the change is seen."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def test_start_refuses_an_invalid_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(BROKEN)
    with pytest.raises(RulesLoadError, match="unknown path root 'typ'"):
        LiveRules(path)


def test_a_changed_file_is_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(ONE_RULE)
    live = LiveRules(path)
    seen: list[RuleSet] = []
    live.on_reload(seen.append)
    assert live.check() is False  # unchanged
    write(path, TWO_RULES)
    assert live.check() is True
    assert [r.name for r in live.current.rules] == ["first", "second"]
    assert seen == [live.current]
    assert REGISTRY.get_sample_value("router_rules_loaded") == 2


def test_a_bad_edit_keeps_the_last_good_rules(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(ONE_RULE)
    live = LiveRules(path)
    before = failures()
    write(path, BROKEN.replace("crm.request", "crm.requst"))
    with caplog.at_level(logging.ERROR):
        assert live.check() is False
    assert [r.name for r in live.current.rules] == ["first"]
    assert failures() == before + 1
    logged = caplog.text
    assert "unknown path root 'typ'" in logged  # every problem is logged …
    assert "did you mean 'request'?" in logged  # … not only the first
    assert live.check() is False  # the same bad file is not retried in a loop
    write(path, TWO_RULES)
    assert live.check() is True


@pytest.mark.anyio
async def test_sighup_reloads(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(ONE_RULE)
    live = LiveRules(path)
    reloaded = asyncio.Event()
    live.on_reload(lambda _: reloaded.set())
    watcher = asyncio.create_task(live.watch(interval_s=3600))  # polling out of the picture
    await asyncio.sleep(0)  # let the watcher install its handler
    path.write_text(TWO_RULES)
    os.kill(os.getpid(), signal.SIGHUP)
    try:
        await asyncio.wait_for(reloaded.wait(), timeout=30)  # a guard, not a speed assertion
    finally:
        watcher.cancel()
    assert len(live.current.rules) == 2


@pytest.mark.anyio
async def test_watch_polls_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(ONE_RULE)
    live = LiveRules(path)
    reloaded = asyncio.Event()
    live.on_reload(lambda _: reloaded.set())
    watcher = asyncio.create_task(live.watch(interval_s=0.01))
    write(path, TWO_RULES)
    try:
        await asyncio.wait_for(reloaded.wait(), timeout=30)  # a guard, not a speed assertion
    finally:
        watcher.cancel()
    assert len(live.current.rules) == 2
