"""The README and .env.example cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

from receiver.events import parse_event
from receiver.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _variables() -> set[str]:
    return {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def test_configuration_table_lists_every_setting() -> None:
    table = set(re.findall(r"^\| `(ROUTER_[A-Z_]+)` \|", README, flags=re.MULTILINE))
    assert table == _variables()


def test_env_example_lists_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    assert set(re.findall(r"^(ROUTER_[A-Z_]+)=", text, flags=re.MULTILINE)) == _variables()


def test_quick_start_is_two_commands_and_ci_runs_the_second() -> None:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]
    assert commands == ["./scripts/run", "./scripts/test"]
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == commands[1]


def test_tour_event_is_a_valid_event() -> None:
    body = re.search(r"-d '(\{.*?\})'", README, flags=re.DOTALL)
    assert body is not None
    event = parse_event(body.group(1).encode())
    assert event.type == "PROCESS.CREATED"
