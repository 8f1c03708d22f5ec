"""`kuflow-router send`: the operator's self-test, in each authentication mode."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from kuflow_router.cli import main
from store import keys
from tests.conftest import BASIC, SECRET, TOKEN, make_event
from tests.processes import Router, router_env, running_router

OTHER_SECRET = "whsec_" + "b3RoZXItc2VjcmV0LW9mLTMyLWJ5dGVzLWxvbmchIQ=="


@pytest.fixture
def router(redis_url: str, tmp_path: Path) -> Iterator[Router]:
    env = router_env(
        ROUTER_REDIS_URL=redis_url,
        ROUTER_WEBHOOK_TOKENS=TOKEN,
        ROUTER_WEBHOOK_BASIC=f"{BASIC[0]}:{BASIC[1]}",
        ROUTER_WEBHOOK_SECRETS=SECRET,
    )
    with running_router(["serve"], env, tmp_path) as running:
        yield running


@pytest.mark.parametrize(
    ("variable", "value", "mode"),
    [
        pytest.param("ROUTER_WEBHOOK_SECRETS", SECRET, "hmac", id="hmac"),
        pytest.param("ROUTER_WEBHOOK_BASIC", f"{BASIC[0]}:{BASIC[1]}", "basic", id="basic"),
        pytest.param("ROUTER_WEBHOOK_TOKENS", TOKEN, "token", id="token"),
    ],
)
def test_send_authenticates_like_kuflow(
    router: Router,
    rdb: redis.Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    mode: str,
) -> None:
    event = make_event()
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    monkeypatch.setenv(variable, value)
    assert main(["send", str(path), "--url", f"{router.base}/webhooks/kuflow"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"202 Accepted  (authenticated with: {mode})")
    assert json.loads(out.split("\n", 1)[1]) == {"id": event["id"], "status": "queued"}
    assert rdb.zscore(keys.QUEUE, event["id"]) is not None


def test_send_reports_a_refusal(
    router: Router,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(make_event()))
    monkeypatch.setenv("ROUTER_WEBHOOK_SECRETS", OTHER_SECRET)
    assert main(["send", str(path), "--url", f"{router.base}/webhooks/kuflow"]) == 1
    said = capsys.readouterr()
    assert said.out.startswith("401 Unauthorized  (authenticated with: hmac)")
    assert "the router refused the credentials" in said.err and "--url" in said.err
    assert main(["send", str(path), "--url", "http://127.0.0.1:1/webhooks/kuflow"]) == 1
    assert "is the router running and listening there?" in capsys.readouterr().err


def test_send_sample_events_are_accepted(
    router: Router, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ROUTER_WEBHOOK_TOKENS", TOKEN)
    samples = sorted((Path(__file__).resolve().parents[2] / "examples" / "events").glob("*.json"))
    assert len(samples) >= 4
    for sample in samples:
        assert main(["send", str(sample), "--url", f"{router.base}/webhooks/kuflow/{TOKEN}"]) == 0
    assert capsys.readouterr().out.count("202 Accepted") == len(samples)


def test_send_stamps_the_event_now_unless_asked_to_send_it_as_is(
    router: Router, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = Path(__file__).resolve().parents[2] / "examples" / "events" / "process-created.json"
    assert json.loads(sample.read_text())["timestamp"].startswith("2024-")  # long past
    url = f"{router.base}/webhooks/kuflow/{TOKEN}"
    assert main(["send", str(sample), "--url", url, "--as-is"]) == 1
    assert "possible replay" in capsys.readouterr().out
    assert main(["send", str(sample), "--url", url]) == 0
