"""`kuflow-router run --demo` from a clean directory: the repository's own rules.yaml and example
events, no credentials set, no network — every example rule acts on the stand-in APIs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import redis

from kuflow_router.cli import main
from kuflow_router.redis_server import embedded_url
from tests.conftest import TOKEN
from tests.processes import router_env, running_router, wait_for

ROOT = Path(__file__).resolve().parents[2]
EVENTS = sorted((ROOT / "examples" / "events").glob("*.json"))


def test_every_example_rule_acts_on_the_stand_ins(tmp_path: Path) -> None:
    shutil.copy(ROOT / "rules.yaml", tmp_path / "rules.yaml")
    env = router_env(ROUTER_WEBHOOK_TOKENS=TOKEN)
    ids = [json.loads(path.read_text())["id"] for path in EVENTS]
    with running_router(["run", "--demo"], env, tmp_path) as router:
        url = embedded_url(tmp_path / "var" / "redis")
        assert url
        for path in EVENTS:
            sent = main(["send", str(path), "--url", f"{router.base}/webhooks/kuflow/{TOKEN}"])
            assert sent == 0
        with redis.Redis.from_url(url) as client:

            def finished() -> bool:
                statuses = [client.hget(f"router:event:{i}", "status") for i in ids]
                return all(s in (b"done", b"partial", b"dead") for s in statuses)

            wait_for(finished, "every example event to be processed")
            statuses = {i: client.hget(f"router:event:{i}", "status") for i in ids}
            matched = {
                i: json.loads(client.hget(f"router:event:{i}", "matched") or b"[]") for i in ids
            }
        with httpx.Client(follow_redirects=True) as browser:  # open on loopback: no login
            console = browser.get(f"{router.console}/events").text
        out, err = router.stop()
    assert "Demo mode: every connection goes to the built-in stand-in APIs" in console
    assert set(statuses.values()) == {b"done"}, err
    every_rule = {r for rules in matched.values() for r in rules}
    assert every_rule == {
        "start-loan-review", "approved-loan-to-shop", "report-on-completion",
        "contractor-onboarding", "crm-process-ended", "remind-stale-review",  # its timer waits
    }  # fmt: skip
    assert "demo mode" in out
    assert "${KUFLOW_CLIENT_SECRET}" in out and "not set: the stand-ins take" in out  # said once
    for api in ("kuflow", "ultracart", "alteryx", "nerm", "http"):
        assert f"demo {api} API received" in err
