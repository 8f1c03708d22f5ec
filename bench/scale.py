"""Scale-out on one Redis (issue 20 §5): events/s end to end with 1 and 2 receivers and 1, 2 and
4 worker processes, where the CPU goes, Redis commands per event, and the enqueue script's own
ceiling on one primary.

    .venv/bin/python -m bench.scale [EVENTS]

Each configuration runs `kuflow-router serve` and `worker` processes as the image does, on a
private Redis with the append-only file on, against the local API double; a sender process
posts EVENTS events (64 at a time, round robin over the receivers) and the clock runs from its
first post until the last event is done. The CPU each process used in that time is read from
/proc. Figures are ratios to the first configuration of the same run (the machine is shared).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from redis import Redis

from bench.harness import TOKEN, api_double, body, env, event, redis_server, rules_file, wait_http
from kuflow_router.redis_server import free_port
from receiver import keys
from receiver.queue import _ENQUEUE

CONFIGURATIONS = ((1, 1), (1, 2), (1, 4), (2, 1), (2, 2), (2, 4))  # (receivers, workers)
SENDERS = 64
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def send(urls: list[str], count: int) -> int:
    """Post `count` events over `urls`, SENDERS at a time; how many were acknowledged."""
    acked = 0
    left = iter(range(count))
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=SENDERS), timeout=30) as http:

        async def sender(n: int) -> None:
            nonlocal acked
            for _ in left:
                answer = await http.post(urls[n % len(urls)], content=body(event()),
                                         headers={"content-type": "application/json"})  # fmt: skip
                acked += answer.status_code == 202

        await asyncio.gather(*(sender(n) for n in range(SENDERS)))
    return acked


def done_count(redis: Redis) -> int:
    minute = int(time.time() // 60)
    return sum(int(redis.hget(keys.stats(m), "done") or 0) for m in range(minute - 5, minute + 1))


@contextmanager
def routers(
    receivers: int, workers: int, variables: dict[str, str]
) -> Iterator[list[tuple[str, int]]]:
    """The processes, as (role, pid); the receivers' URLs in `variables['URLS']`."""
    script = str(Path(sys.executable).parent / "kuflow-router")
    processes: list[tuple[str, subprocess.Popen[bytes]]] = []
    urls = []
    try:
        for _ in range(receivers):
            port = free_port()
            serve = subprocess.Popen([script, "serve", "--host", "127.0.0.1", "--port", str(port)],
                                     env=variables)  # fmt: skip
            processes.append(("receivers", serve))
            wait_http(f"http://127.0.0.1:{port}/healthz")
            urls.append(f"http://127.0.0.1:{port}/webhooks/kuflow/{TOKEN}")
        for _ in range(workers):
            processes.append(("workers", subprocess.Popen([script, "worker"], env=variables)))
        variables["URLS"] = ",".join(urls)
        time.sleep(2)  # the workers connect and load their rules
        yield [(role, process.pid) for role, process in processes]
    finally:
        for _, process in processes:
            process.terminate()
        for _, process in processes:
            process.wait()


def measure(redis_url: str, rules: Path, receivers: int, workers: int, count: int,
            fixed: dict[str, int]) -> dict[str, float]:  # fmt: skip
    """One configuration: events/s end to end, Redis commands per event, CPU shares."""
    with Redis.from_url(redis_url) as redis:
        redis.flushall()
        redis.config_resetstat()
        variables = env(ROUTER_REDIS_URL=redis_url, ROUTER_WEBHOOK_TOKENS=TOKEN,
                        ROUTER_RULES_FILE=str(rules))  # fmt: skip
        with routers(receivers, workers, variables) as pids:
            everyone = pids + [(role, pid) for role, pid in fixed.items()]
            before = {pid: cpu_seconds(pid) for _, pid in everyone}
            calls_before = int(redis.info("stats")["total_commands_processed"])
            sender = subprocess.Popen([sys.executable, "-m", "bench.scale", "--send",
                                       variables["URLS"], str(count)])  # fmt: skip
            started = time.perf_counter()
            before[sender.pid] = cpu_seconds(sender.pid)
            everyone.append(("sender", sender.pid))
            sent_cpu = 0.0
            while done_count(redis) < count:
                if sender.poll() is None:
                    sent_cpu = cpu_seconds(sender.pid) - before[sender.pid]
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            sender.wait()
            used = {
                pid: cpu_seconds(pid) - before[pid] for role, pid in everyone if role != "sender"
            }
            commands = int(redis.info("stats")["total_commands_processed"]) - calls_before
    shares: dict[str, float] = {"sender": sent_cpu / elapsed}
    for role, pid in everyone:
        if role != "sender":
            shares[role] = shares.get(role, 0.0) + used[pid] / elapsed
    return {"rate": count / elapsed, "commands": commands / count, **shares}


def enqueue_ceiling(redis_url: str) -> float:
    """Enqueue scripts per second one Redis runs, with redis-benchmark (50 clients, pipelined 16
    deep, each call a new event id): the receivers' side of one primary's limit."""
    with Redis.from_url(redis_url) as redis:
        redis.flushall()
        sha = redis.script_load(_ENQUEUE)
    port = redis_url.rsplit(":", 1)[1].split("/", 1)[0]
    rand = "__rand_int__"
    script_keys = [f"router:seen:{rand}", f"arq:job:{rand}", "router:queue", f"router:event:{rand}",
                   "router:wake", "router:events", "router:stats:1", f"router:process:{rand}:line",
                   f"router:process:{rand}"]  # fmt: skip
    args = ["1700000000000", "604800000", "604800000", "{}", rand, "PROCESS.CREATED", "604800000",
            "999", rand, "{}", "172800", "1", "PROCESS.CREATED"]  # fmt: skip
    out = subprocess.run(
        ["redis-benchmark", "-p", port, "-n", "200000", "-c", "50", "-P", "16", "-r", "100000000",
         "-q", "EVALSHA", sha, "9", *script_keys, *args],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return float(re.findall(r"([\d.]+) requests per second", out)[-1])


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        redis_server(Path(tmp)) as redis,
        api_double() as url,
    ):
        rules = rules_file(Path(tmp), url)
        with Redis.from_url(redis.url) as client:
            fixed = {"redis": int(client.info("server")["process_id"])}
        for receivers, workers in CONFIGURATIONS:
            rows.append(((receivers, workers),
                         measure(redis.url, rules, receivers, workers, count, fixed)))  # fmt: skip
        ceiling = enqueue_ceiling(redis.url)
    base = rows[0][1]["rate"]
    print(
        f"| {count:,} events | events/s | vs 1+1 | Redis commands/event | CPU (of 2 cores): "
        "receivers / workers / Redis / sender |"
    )
    print("|---|---:|---:|---:|---|")
    for (receivers, workers), figures in rows:
        cpu = " / ".join(f"{figures.get(role, 0.0):.0%}"
                         for role in ("receivers", "workers", "redis", "sender"))  # fmt: skip
        print(f"| {receivers} receiver{'s' * (receivers > 1)}, {workers} worker"
              f"{'s' * (workers > 1)} | {figures['rate']:,.0f} | {figures['rate'] / base:.2f}x "
              f"| {figures['commands']:.1f} | {cpu} |")  # fmt: skip
    print(
        f"\nenqueue script alone on this Redis (redis-benchmark, 50 clients, pipeline 16): "
        f"{ceiling:,.0f} calls/s"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--send"]:
        asyncio.run(send(sys.argv[2].split(","), int(sys.argv[3])))
    else:
        main()
