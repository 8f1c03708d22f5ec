"""Three worker processes share one connection's limit: the KuFlow double's own log of arrival
times, analysed after the run, shows the limit held across them (issue 19). `-m slow` runs the
full size; the observed rate goes into the accounting summary and docs/benchmarks.md."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.chaos.accounting import LINES, Accounting
from tests.chaos.common import RULES, kuflow_events, processed, settle
from tests.conftest import enqueue_events
from tests.doubles.kuflow import KuflowDouble
from tests.processes import router_command, router_env

RATE = 100  # calls per second, for all three workers together
BURST = 10


def busiest_second(arrivals: list[float]) -> int:
    """The most calls that arrived within any one second."""
    most, start = 0, 0
    for end, at in enumerate(arrivals):
        while at - arrivals[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


@pytest.mark.parametrize(
    "size", [pytest.param(60, id="smoke"), pytest.param(2000, id="full", marks=pytest.mark.slow)]
)
def test_three_workers_hold_one_shared_rate_limit(
    redis_url: str, kuflow: KuflowDouble, tmp_path: Path, size: int
) -> None:
    rules = tmp_path / "rules.yaml"
    limited = f"client_secret: kuflow-secret\n    limits: {{rate: {RATE}/s, burst: {BURST}}}"
    rules.write_text(RULES.format(url=kuflow.url).replace("client_secret: kuflow-secret", limited))
    events = kuflow_events(kuflow, size)
    account = Accounting(f"three workers sharing {RATE}/s", sent=len(events))
    account.acknowledged = asyncio.run(enqueue_events(redis_url, events))
    env = router_env(
        ROUTER_REDIS_URL=redis_url, ROUTER_RULES_FILE=str(rules), ROUTER_WORKER_CONCURRENCY="10"
    )
    workers = [
        subprocess.Popen([*router_command(), "worker"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(3)
    ]  # fmt: skip
    # A guard against a hang, not a speed test: the limit alone takes 3 * size / RATE seconds.
    deadline = time.monotonic() + 60 + 2 * 3 * size / RATE
    try:
        while asyncio.run(processed(redis_url, events)) < size:
            assert time.monotonic() < deadline, "gave up waiting for every event to be done"
            time.sleep(0.2)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait()
    settle(account, redis_url, kuflow, events)
    assert account.processed == account.sent
    assert (account.duplicates, account.lost, account.dead_lettered) == (0, 0, 0)

    # The calls of the events, through the one connection: the verifying read, the create, the
    # claim (the start-up probe of each worker, `GET /processes`, is not an event's).
    arrivals = sorted(r.at for r in kuflow.received if r.path != "/processes")
    assert len(arrivals) == 3 * size
    most = busiest_second(arrivals)
    assert most <= RATE + BURST + 1  # one for the clocks' granularity
    observed = (len(arrivals) - BURST) / (arrivals[-1] - arrivals[0])
    line = (f"  observed {observed:.1f} calls/s over {len(arrivals)} calls (configured {RATE}/s, "
            f"burst {BURST}); the busiest second held {most}")  # fmt: skip
    LINES.append(line)
    print(line)
    with redis.Redis.from_url(redis_url) as client:
        assert client.xlen("router:dlq") == 0
