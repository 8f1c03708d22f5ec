"""Receiver throughput and ack latency against baselines measured in the same run (issue 7 §1).

    .venv/bin/python -m bench.receiver_throughput         # needs wrk (apt-get install wrk)

Three servers take the same load — HMAC-signed KuFlow events, each a new event id, from wrk with
32 connections on loopback — one after the other, each on a fresh Redis with the append-only
file on (as in production): a bare Starlette endpoint (the ceiling), the straightforward
implementation (same checks, then arq's enqueue_job), and kuflow-router's receiver, which also
writes its JSON log line per event, as `serve` does (to /dev/null). Goal: the router at >= 40%
of the bare endpoint's events/s, with p99 <= 10 ms. Beside each rate, the server's CPU time per
event: the steadier figure when the machine is busy.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import machine
from kuflow_router.redis_server import RedisServer, free_port
from receiver.auth import sign_headers

HERE = Path(__file__).resolve().parent
SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
CONNECTIONS, THREADS, SECONDS, REQUESTS = 32, 2, 10, 150_000
ROUNDS = 3  # the three servers take turns this often
NOW = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # older events are refused


def write_requests(path: Path) -> None:
    now = int(time.time())
    with path.open("w") as out:
        for _ in range(REQUESTS):
            event = {
                "id": str(uuid.uuid4()),
                "version": "1",
                "type": "PROCESS.CREATED",
                "timestamp": NOW,
                "data": {"processId": str(uuid.uuid4()), "processState": "RUNNING"},
            }
            body = json.dumps(event, separators=(",", ":"))
            headers = sign_headers(SECRET, f"msg_{event['id']}", now, body.encode())
            out.write(f"{headers['webhook-id']}\n{headers['webhook-timestamp']}\n")
            out.write(f"{headers['webhook-signature']}\n{body}\n")


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def measure(
    kind: str,
    requests_file: Path,
    workdir: Path,
    round_: int | str,
    extra_env: dict[str, str] | None = None,
) -> dict[str, float]:
    redis = RedisServer(workdir / f"redis-{kind}-{round_}", persistent=True)  # a fresh one
    redis.start()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(HERE / "apps.py"), kind, str(port), redis.url, SECRET],
        env={**os.environ, "PYTHONPATH": str(HERE.parent), **(extra_env or {})},
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/webhooks/kuflow"
    try:
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        cpu_before = machine.cpu_seconds(server.pid)
        result = subprocess.run(
            ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency",
             "-s", str(HERE / "signed.lua"), url, "--", str(requests_file), str(THREADS)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        cpu = machine.cpu_seconds(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait()
        redis.stop()
    out = result.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return {
        "rate": rate,
        "cpu_us": cpu / requests * 1e6,
        "p50": p50,
        "p99": p99,
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def main() -> None:
    print(machine.describe())
    if not shutil.which("wrk"):
        sys.exit("bench/receiver_throughput.py needs wrk: apt-get install wrk")
    kinds = ("bare", "naive", "router")
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        requests_file = workdir / "requests.txt"
        write_requests(requests_file)
        for round_ in range(ROUNDS):  # the three take turns: a noisy moment hits them all
            for kind in kinds:
                runs[kind].append(measure(kind, requests_file, workdir, round_))
    head = (f"| receiver ({CONNECTIONS} connections, wrk {SECONDS} s; median of {ROUNDS} "
            "interleaved runs, ±spread) | events/s | p50 ms | p99 ms")  # fmt: skip
    print(head + " | vs bare | server CPU µs/event | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    labels = {
        "bare": "bare Starlette, reads body, 202",
        "naive": "same checks + arq enqueue_job",
        "router": "kuflow-router",
    }
    medians: dict[str, dict[str, float]] = {}
    for kind, label in labels.items():
        rate, spread = machine.median_spread([r["rate"] for r in runs[kind]])
        ratio, ratio_spread = machine.median_spread(
            [r["rate"] / b["rate"] for r, b in zip(runs[kind], runs["bare"], strict=True)]
        )
        p50 = machine.median_spread([r["p50"] for r in runs[kind]])[0]
        p99 = machine.median_spread([r["p99"] for r in runs[kind]])[0]
        errors = sum(r["errors"] for r in runs[kind])
        cpu, cpu_spread = machine.median_spread([r["cpu_us"] for r in runs[kind]])
        medians[kind] = {"ratio": ratio, "p99": p99}
        print(f"| {label} | {rate:,.0f} ±{spread:.0%} | {p50:.2f} | {p99:.2f} "
              f"| {ratio:.0%} ±{ratio_spread:.0%} | {cpu:.0f} ±{cpu_spread:.0%} "
              f"| {errors:.0f} |")  # fmt: skip
    router = medians["router"]
    met = router["ratio"] >= 0.40 and router["p99"] <= 10
    print(f"\ngoal: router >= 40% of bare and p99 <= 10 ms — {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
