"""What a connection's gate costs per call (issue 19): the worker's throughput with no gate, with
the default breaker, and with limits that never bind — in the same run, alternating.

    .venv/bin/python -m bench.limits [EVENTS]

Same stage as `bench.worker_throughput` (a private Redis with the append-only file on, the local
API double, uvloop, concurrency 10). The gate adds one Redis round trip per call (`admit`) with a
breaker only, and a second (`settle`, freeing the slot) with a concurrency limit; its Lua steps
are also timed alone against a PING, the cheapest round trip there is.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from redis.asyncio import Redis

from bench import machine
from bench.harness import drain, worker_stage
from bench.worker_throughput import fill
from handlers.rules.loader import load_file
from handlers.rules.reload import LiveRules
from handlers.worker.app import build_worker
from handlers.worker.settings import WorkerSettings
from store import gate
from store.gate import CallResult

VARIANTS = {
    "no gate (breaker: false)": ", breaker: false",
    "breaker (the default)": "",
    "breaker + limits that never bind": ", limits: {rate: 1000000/s, concurrency: 1000}",
}
ROUNDS = 2  # each variant is measured this often, alternating, and its best run kept


def variant(rules: Path, settings_text: str) -> Path:
    """The bench's rules with the api connection's gate set as `settings_text` says."""
    text = rules.read_text()
    path = rules.with_name(f"rules-{abs(hash(settings_text))}.yaml")
    path.write_text(
        text.replace('type: http, base_url: "', "type: http" + settings_text + ', base_url: "')
    )
    return path


async def throughput(redis_url: str, rules: Path, count: int) -> float:
    async with Redis.from_url(redis_url) as redis:
        await redis.flushall()
    await fill(redis_url, count)
    settings = WorkerSettings(redis_url=redis_url, worker_concurrency=10, rules_file=rules)
    return count / await drain(build_worker(settings, LiveRules(rules), handle_signals=False))


async def per_call_us(redis_url: str, rules: Path, calls: int) -> dict[str, float]:
    """Microseconds per PING, per admit (breaker only), per admit + settle (with limits)."""
    plain = load_file(variant(rules, VARIANTS["breaker (the default)"])).connections["api"]
    limited = load_file(variant(rules, VARIANTS["breaker + limits that never bind"]))
    bound = limited.connections["api"]
    timings: dict[str, float] = {}
    async with Redis.from_url(redis_url) as redis:
        await redis.flushall()
        started = time.perf_counter()
        for _ in range(calls):
            await redis.ping()
        timings["PING"] = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(calls):
            await gate.admit(redis, "api", plain, 10)
        timings["admit (breaker)"] = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(calls):
            admission = await gate.admit(redis, "api", bound, 10)
            await gate.settle(redis, bound, admission, CallResult.OK)
        timings["admit + settle (limits)"] = time.perf_counter() - started
    return {name: seconds / calls * 1e6 for name, seconds in timings.items()}


def main() -> None:
    print(machine.describe())
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    best: dict[str, float] = {}
    with worker_stage() as (redis_url, rules, runner):
        for _ in range(ROUNDS):
            for name, text in VARIANTS.items():
                rate = runner.run(throughput(redis_url, variant(rules, text), count))
                best[name] = max(best.get(name, 0.0), rate)
        micro = runner.run(per_call_us(redis_url, rules, 5000))
    baseline = best["no gate (breaker: false)"]
    print(
        f"| worker, concurrency 10 ({count:,} events, best of {ROUNDS}) | events/s | vs no gate |"
    )
    print("|---|---:|---:|")
    for name, rate in best.items():
        print(f"| {name} | {rate:,.0f} | {rate / baseline:.0%} |")
    print("\n| one call's gate, alone (5,000 in a row) | µs | vs a PING |")
    print("|---|---:|---:|")
    for name, us in micro.items():
        print(f"| {name} | {us:.0f} | {us / micro['PING']:.1f}x |")


if __name__ == "__main__":
    main()
