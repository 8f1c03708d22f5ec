"""`.env`, read at start and again before each rules reload: a credential added there reaches a
running router without a restart; a variable set outside the file still wins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from handlers.rules.reload import LiveRules
from kuflow_router import env_file

RULES = """\
version: 1
connections:
  crm: {{type: http, base_url: "https://crm.example/api", headers: {{Authorization: "Bearer {token}"}}}}
rules:
  - name: r
    when: {{type: PROCESS.CREATED}}
    do:
      - crm.request: {{method: POST, path: /x}}
"""


def test_a_reload_sees_what_dot_env_says_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRM_TOKEN", raising=False)
    monkeypatch.delenv("GONE_LATER", raising=False)
    monkeypatch.setenv("SET_OUTSIDE", "from-the-shell")
    dot_env = tmp_path / ".env"
    dot_env.write_text("GONE_LATER=1\nSET_OUTSIDE=from-the-file\n")
    env_file.load(dot_env)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.format(token="literal-token-0123"))
    live = LiveRules(rules, before_reload=env_file.refresh)
    # The file now reads a variable that only .env will have, added while the router runs.
    rules.write_text(RULES.format(token="${CRM_TOKEN}"))
    assert not live.reload()
    dot_env.write_text("CRM_TOKEN=crm-token-from-dot-env\nSET_OUTSIDE=from-the-file\n")
    assert live.reload()
    headers = live.current.connections["crm"].model_dump()["headers"]
    assert headers == {"Authorization": "Bearer crm-token-from-dot-env"}
    assert os.environ["SET_OUTSIDE"] == "from-the-shell"  # the environment wins, as at start
    assert "GONE_LATER" not in os.environ  # no longer in the file: gone
    monkeypatch.delenv("CRM_TOKEN")
