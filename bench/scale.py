"""Scale-out on one Redis (issue 20 §5): events/s end to end with 1 and 2 receivers and 1, 2 and
4 worker processes, where the CPU goes, Redis commands per event, and the enqueue script's own
ceiling on one primary.

    .venv/bin/python -m bench.scale          # needs wrk (apt-get install wrk)

Each configuration runs `kuflow-router serve` and `worker` processes as the image does, on a
private Redis with the append-only file on, against the local API double; wrk posts new events
for 8 s with 32 connections split over the receivers, and the clock runs from its first post
until the last acknowledged event is done. The CPU each process used in that time is read from
/proc. Figures are ratios to the first configuration of the same run (the machine is shared).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from redis import Redis

from bench import machine
from bench.harness import (
    HERE,
    TOKEN,
    api_double,
    done_count,
    env,
    redis_server,
    rules_file,
    wait_http,
)
from kuflow_router.redis_server import free_port
from store.queue import _ENQUEUE

CONFIGURATIONS = ((1, 1), (1, 2), (1, 4), (2, 1), (2, 2), (2, 4))  # (receivers, workers)
CONNECTIONS = 32  # wrk's, split between the receivers
SECONDS = 8  # of sending, per configuration
NOW = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # older events are refused
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def send(urls: list[str], seconds: int) -> list[subprocess.Popen[str]]:
    """wrk against each receiver for `seconds`, CONNECTIONS split between them."""
    per = max(1, CONNECTIONS // len(urls))
    script = str(HERE / "scale.lua")
    return [
        subprocess.Popen(["wrk", "-t1", f"-c{per}", f"-d{seconds}s", "-s", script, url, "--", NOW],
                         stdout=subprocess.PIPE, text=True)
        for url in urls
    ]  # fmt: skip


def acknowledged(processes: list[subprocess.Popen[str]]) -> int:
    """2xx answers, from wrk's summaries."""
    total = 0
    for process in processes:
        out, _ = process.communicate()
        requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        refused = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        total += requests - (int(refused.group(1)) if refused else 0)
    return total


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


def measure(redis_url: str, rules: Path, receivers: int, workers: int,
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
            started = time.perf_counter()
            senders = send(variables["URLS"].split(","), SECONDS)
            sent_cpu = 0.0
            while any(p.poll() is None for p in senders):
                sent_cpu = sum(cpu_seconds(p.pid) for p in senders if p.poll() is None)
                time.sleep(0.05)
            count = acknowledged(senders)
            while done_count(redis) < count:
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            used = {pid: cpu_seconds(pid) - before[pid] for _, pid in everyone}
            commands = int(redis.info("stats")["total_commands_processed"]) - calls_before
    shares: dict[str, float] = {"sender": sent_cpu / elapsed}
    for role, pid in everyone:
        shares[role] = shares.get(role, 0.0) + used[pid] / elapsed
    return {"rate": count / elapsed, "events": count, "commands": commands / count, **shares}


def enqueue_ceiling(redis_url: str) -> float:
    """Enqueue scripts per second one Redis runs, with redis-benchmark (50 clients, pipelined 16
    deep, each call a new event id): the receivers' side of one primary's limit."""
    with Redis.from_url(redis_url) as redis:
        redis.flushall()
        sha = redis.script_load(_ENQUEUE.text)
    port = redis_url.rsplit(":", 1)[1].split("/", 1)[0]
    rand = "__rand_int__"
    script_keys = [f"router:seen:{rand}", f"arq:job:{rand}", "router:queue", f"router:event:{rand}",
                   "router:wake", "router:events", "router:stats:1", f"router:process:{rand}:line",
                   f"router:process:{rand}", "router:acked",
                   f"router:process:{rand}:events"]  # fmt: skip
    args = ["1700000000000", "604800000", "604800000", "{}", rand, "PROCESS.CREATED", "604800000",
            "999", rand, "{}", "172800", "1", "PROCESS.CREATED", ""]  # fmt: skip
    out = subprocess.run(
        ["redis-benchmark", "-p", port, "-n", "200000", "-c", "50", "-P", "16", "-r", "100000000",
         "-q", "EVALSHA", sha, str(len(script_keys)), *script_keys, *args],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return float(re.findall(r"([\d.]+) requests per second", out)[-1])


def main() -> None:
    print(machine.describe())
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
                         measure(redis.url, rules, receivers, workers, fixed)))  # fmt: skip
        ceiling = enqueue_ceiling(redis.url)
    base = rows[0][1]["rate"]
    print(f"| wrk {SECONDS} s, then drain | events | events/s | vs 1+1 | Redis commands/event "
          "| CPU (of 2 cores): receivers / workers / Redis / wrk |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---|")
    for (receivers, workers), figures in rows:
        cpu = " / ".join(f"{figures.get(role, 0.0):.0%}"
                         for role in ("receivers", "workers", "redis", "sender"))  # fmt: skip
        print(f"| {receivers} receiver{'s' * (receivers > 1)}, {workers} worker"
              f"{'s' * (workers > 1)} | {figures['events']:,.0f} | {figures['rate']:,.0f} "
              f"| {figures['rate'] / base:.2f}x "
              f"| {figures['commands']:.1f} | {cpu} |")  # fmt: skip
    print(
        f"\nenqueue script alone on this Redis (redis-benchmark, 50 clients, pipeline 16): "
        f"{ceiling:,.0f} calls/s"
    )


if __name__ == "__main__":
    main()
