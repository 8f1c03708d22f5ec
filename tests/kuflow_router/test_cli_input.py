"""What the command line does with what a person types: a clear message and exit 2, never a
traceback; and the small courtesies (./.env, --version, ids as typed)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kuflow_router import cli, env_file, serve_commands
from kuflow_router.cli import main
from kuflow_router.redis_server import free_port
from tests.conftest import make_event
from tests.kuflow_router.test_admin_commands import seed


@pytest.fixture
def no_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty directory: no ./.env, rules.yaml or var/ of the developer's."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(env_file, "DEFAULT", Path(".env"))  # the real default, in tmp_path
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        pytest.param(
            ["serve"],
            {"ROUTER_REDIS_URL": "notaurl"},
            "ROUTER_REDIS_URL: must be a Redis URL",
            id="redis-url",
        ),
        pytest.param(
            ["run", "--concurrency", "-3"],
            {},
            "--concurrency: must be from 1 to 1000, not -3",
            id="concurrency-negative",
        ),
        pytest.param(
            ["run", "--concurrency", "0"],
            {},
            "--concurrency: must be from 1 to 1000, not 0",
            id="concurrency-zero",
        ),
        pytest.param(
            ["serve", "--port", "99999"], {}, "--port: must be from 1 to 65535", id="port"
        ),
        pytest.param(
            ["events", "list", "--limit", "-1"], {}, "--limit: must be from 1", id="limit"
        ),
    ],
)
def test_bad_input_is_a_message_and_exit_2(
    no_env_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage error
        code = int(exc.code or 0)
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert "notaurl" not in err  # a bad value is named, never echoed


WORDS = st.sampled_from(
    ["run", "serve", "worker", "rules", "check", "test", "events", "list", "show", "dlq",
     "replay", "purge", "send", "--all", "--limit", "--port", "--host", "--concurrency",
     "--check", "--url", "--json", "--rules", "--env-file", "--version", "-1", "0", "x",
     "0B8C7A3E-5D5F-4B7A-9F0E-2F6C1D9E8A11", "nope.json", "", "ünï", "99999999999"]
)  # fmt: skip


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(WORDS, max_size=5))
def test_no_command_line_ends_in_a_traceback(
    no_env_file: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    # Nothing long-running starts, and Redis is a port where nothing listens.
    monkeypatch.setenv("ROUTER_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setenv("ROUTER_WEBHOOK_TOKENS", "t" * 32)
    monkeypatch.setattr(serve_commands, "_serve", lambda *args: None)
    monkeypatch.setattr(serve_commands, "build_worker", lambda *args, **kw: _NoWorker())
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        assert exc.code in (0, 2, None) or isinstance(exc.code, str)
    else:
        assert code in (0, 1, 2)


class _NoWorker:
    def run(self) -> None:
        return None


def test_the_cli_reads_dot_env_and_set_variables_win(
    no_env_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (no_env_file / "rules.yaml").write_text(
        "version: 1\nconnections:\n  crm: {type: http, base_url: 'https://crm.example.com', "
        "headers: {Authorization: 'Bearer ${CRM_TOKEN}'}}\nrules: []\n"
    )
    assert main(["rules", "check"]) == 1  # CRM_TOKEN is not set
    (no_env_file / ".env").write_text("# written by scripts/run\nexport CRM_TOKEN='from-dot-env'\n")
    monkeypatch.delenv("CRM_TOKEN", raising=False)
    assert main(["rules", "check"]) == 0
    monkeypatch.setenv("CRM_TOKEN", "from-the-shell")
    assert main(["rules", "check"]) == 0
    assert os.environ["CRM_TOKEN"] == "from-the-shell"
    other = no_env_file / "other.env"
    other.write_text("NOT A LINE\n")
    assert main(["--env-file", str(other), "rules", "check"]) == 2
    assert "other.env:1: not of the form NAME=value" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("kuflow-router ")


def test_run_listens_on_this_machine_only_by_default() -> None:
    parsed = cli._parser().parse_args(["run"])
    assert parsed.host == "127.0.0.1"
    image_default = "0.0.0.0"  # noqa: S104 (serve is the image's command)
    assert cli._parser().parse_args(["serve"]).host == image_default


def test_ids_are_normalised_and_replay_says_why_nothing_was_queued(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ROUTER_REDIS_URL", redis_url)
    event = make_event()
    seed(redis_url, event)
    assert main(["events", "show", event["id"].upper()]) == 0
    shown: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert shown["event_id"] == event["id"]
    other = make_event()["id"]
    assert main(["dlq", "replay", other]) == 1
    assert f"event {other} has no dead-letter entry: nothing to replay" in capsys.readouterr().err
    assert main(["dlq", "replay", event["id"], "--all"]) == 2
    assert "not both" in capsys.readouterr().err
