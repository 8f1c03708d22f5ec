"""The README, the docs site and .env.example cannot drift from the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from common.settings import ENV_PREFIX
from contract.events import parse_event
from kuflow_router.settings import RouterSettings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"
RULES = (DOCS / "rules.md").read_text()


def _variables() -> set[str]:
    return {ENV_PREFIX + name.upper() for name in RouterSettings.model_fields}


def test_configuration_table_lists_every_setting() -> None:
    text = (DOCS / "configuration.md").read_text()
    table = set(re.findall(r"^\| `(ROUTER_[A-Z_]+)` \|", text, flags=re.MULTILINE))
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
    now = subprocess.run(["date", "-u", "+%Y-%m-%dT%H:%M:%SZ"], capture_output=True, text=True)
    text = body.group(1).replace("'$(date -u +%Y-%m-%dT%H:%M:%SZ)'", now.stdout.strip())
    event = parse_event(text.encode())
    assert event.type == "PROCESS.CREATED"


def test_rules_page_example_loads_and_runs() -> None:
    from authoring.dryrun import dry_run
    from handlers.rules.loader import load_text

    block = RULES.split("```yaml\n", 1)[1].split("```", 1)[0]
    env = {"KUFLOW_CLIENT_ID": "id", "KUFLOW_CLIENT_SECRET": "secret"}
    rules = load_text(block, "docs/rules.md", env)
    event = {
        "id": "0b8c7a3e-5d5f-4b7a-9f0e-2f6c1d9e8a11",
        "type": "PROCESS.CREATED",
        "data": {"processId": "4c2e1b7a-9d3f-4e6a-8b1c-5f7d9e2a3b4c", "processState": "RUNNING"},
    }
    (report,) = dry_run(rules, event, {"entity": {"value": {"amount": 12000}}})
    assert report.status == "matched"
    assert [a.requests[0].method for a in report.actions] == ["POST", "POST"]


def test_rules_page_lists_every_operation() -> None:
    from handlers.clients.catalogue import CONNECTION_TYPES

    for kind, connection_type in CONNECTION_TYPES.items():
        row = next(line for line in RULES.splitlines() if line.startswith(f"| `{kind}` |"))
        for operation in connection_type.operations:
            assert f"`{operation}`" in row, (kind, operation)


def test_the_readme_is_a_front_page() -> None:
    assert len(README.splitlines()) <= 400
    for page in re.findall(r"\]\((docs/[^)#]+)", README):
        assert (ROOT / page).exists(), page


def test_the_docs_site_builds_strict(tmp_path: Path) -> None:
    """Every page in the nav, every link and anchor between pages whole (mkdocs --strict)."""
    mkdocs = Path(sys.executable).parent / "mkdocs"
    built = subprocess.run(
        [str(mkdocs), "build", "--strict", "--quiet", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "site" / "architecture" / "index.html").exists()
