"""scripts/run's first start, in a sandbox whose .venv holds a stand-in `kuflow-router`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def sandbox(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "rules.yaml").write_text("version: 1\nrules: []\n")
    (tmp_path / "my-rules.yaml").write_text(
        "version: 1\nconnections:\n  crm: {type: http, base_url: 'https://crm.example.com', "
        "headers: {Authorization: 'Bearer ${CRM_TOKEN}'}}  # ${NOT_THIS_ONE}\nrules: []\n"
    )
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    stand_in = bin_dir / "kuflow-router"
    stand_in.write_text('#!/bin/sh\necho "kuflow-router started with: $*"\n')
    stand_in.chmod(0o755)
    (tmp_path / ".venv" / ".installed[embedded]").touch()  # installed: nothing to do
    return tmp_path


def test_first_start_writes_env_names_the_placeholders_and_prints_the_url(
    tmp_path: Path,
) -> None:
    place = sandbox(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROUTER_", "CRM_"))}
    env["ROUTER_RULES_FILE"] = "my-rules.yaml"
    result = subprocess.run(
        ["bash", "scripts/run", "--demo", "--port", "18000"], cwd=place, env=env,
        capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    dot_env = (place / ".env").read_text()
    token = dot_env.split("ROUTER_WEBHOOK_TOKENS=", 1)[1].split("\n", 1)[0]
    assert len(token) >= 32
    assert "CRM_TOKEN=replace-me" in dot_env and "NOT_THIS_ONE" not in dot_env
    assert (place / ".env").stat().st_mode & 0o777 == 0o600
    out = result.stdout
    assert "put real values in .env: CRM_TOKEN" in out
    assert (
        f"register this webhook URL in KuFlow: http://localhost:18000/webhooks/kuflow/{token}"
        in out
    )
    assert "kuflow-router started with: run --demo --port 18000" in out
    again = subprocess.run(
        ["bash", "scripts/run"], cwd=place, env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert "wrote .env" not in again.stdout and (place / ".env").read_text() == dot_env
