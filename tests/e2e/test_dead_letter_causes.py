"""A dead letter names its cause as an operator groups failures: a refused connection is
`connection refused` (not the start of its message), as an HTTP status is `HTTP 422`."""

from __future__ import annotations

from pathlib import Path

import pytest

from store import dlq, failures
from tests.conftest import make_event
from tests.e2e.harness import pipeline

REFUSED_RULES = """\
version: 1
verify: false
connections:
  hooks: {type: http, base_url: "http://127.0.0.1:1/api"}
defaults:
  retry: {attempts: 1}
rules:
  - name: notify-hooks
    when: {type: PROCESS.CREATED}
    do:
      - hooks.request: {method: POST, path: /x}
"""


@pytest.mark.anyio
async def test_a_refused_connection_is_dead_lettered_as_connection_refused(
    redis_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(REFUSED_RULES)
    event = make_event(
        "PROCESS.CREATED",
        data={"processId": "0b8c7a3e-5d5f-4b7a-9f0e-2f6c1d9e8a11", "processState": "RUNNING"},
    )
    async with pipeline(redis_url, path) as router:
        await router.send(event)
        await router.work()
        (entry,) = await dlq.entries(router.redis, event["id"])
        (group,) = await failures.listing(router.redis)
    assert entry.fields["cause"] == "connection refused"
    assert (
        group.state == "open"
        and group.cause == "connection refused"
        and "ssl:default" not in entry.fields["error"]
    )
