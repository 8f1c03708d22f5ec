"""A stock arq worker running no-op jobs from the router's queue, as its own process: the
baseline of `bench.worker_throughput`'s production-shaped line.

    .venv/bin/python -m bench.noop_worker REDIS_URL CONCURRENCY
"""

from __future__ import annotations

import json
import sys
from typing import Any

from arq import Worker, func
from arq.connections import RedisSettings

from contract.job_format import JOB_FUNCTION, encode_result
from store.queue import QUEUE


async def no_op(ctx: dict[str, Any], raw: str, received_at_ms: int) -> None:
    return None


def main() -> None:
    worker = Worker(
        functions=[func(no_op, name=JOB_FUNCTION)],
        queue_name=QUEUE,
        job_deserializer=json.loads,
        job_serializer=encode_result,
        redis_settings=RedisSettings.from_dsn(sys.argv[1]),
        max_jobs=int(sys.argv[2]),
        poll_delay=0.05,  # arq polls; a shorter delay only helps the baseline
        keep_result=0,
    )
    worker.run()


if __name__ == "__main__":
    main()
