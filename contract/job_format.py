"""The job format on `router:queue`: plain JSON, so nothing read from Redis can run code.

A job is arq's job dictionary written as JSON instead of arq's default pickle:

    {"t": null, "f": "process_event", "a": ["<the raw body, as text>", 1718359200000],
     "k": {}, "et": 1718359200000}

A stock arq worker consumes it with `job_deserializer=json.loads` (docs/design-choices.md).
The router's worker decodes with `decode_job`, which never executes anything: a payload that
is not this format — a pickle planted by whoever can write to Redis, say — becomes a call of
`REFUSED_FUNCTION`, which dead-letters the job with the reason, and the worker goes on.

Jobs queued by a router before this format (arq's pickle of the same dictionary) are still
run: `decode_job` reads them with an unpickler that may build only plain data (dicts, tuples,
strings, bytes, numbers) and refuses every reference to code, so an upgrade needs no draining.
"""

from __future__ import annotations

import io
import json
import pickle
import re
from typing import Any

from common import tracing

JOB_FUNCTION = "process_event"
REFUSED_FUNCTION = "refused_job"  # the worker's function for a job it will not run

_PICKLE_PROTOCOL_MARK = 0x80  # every pickle of protocol 2 or later starts with this byte
_TRACE_CHARS = 512  # tracestate's own limit
_TIMER_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def encode_job(
    body: bytes,
    received_at_ms: int,
    trace: dict[str, str] | None = None,
    timer: str | None = None,
) -> bytes:
    """The job that processes one event: its raw body (UTF-8 JSON) and when it was received;
    with tracing on, the trace it continues (`{"trace": {"traceparent": …}}` as its keyword
    argument). With `timer` (a timer's id, store/timers.py), the job that fires that timer,
    which its starting event (`body`) started; `received_at_ms` is then its due time."""
    extra: dict[str, object] = {"trace": trace} if trace else {}
    if timer:
        extra["timer"] = timer
    job: dict[str, object] = {
        "t": None,
        "f": JOB_FUNCTION,
        "a": [body.decode(), received_at_ms],
        "k": extra,
        "et": received_at_ms,
    }
    return json.dumps(job, separators=(",", ":")).encode()


def _kwargs_ok(kwargs: Any) -> bool:
    """Whether a job's keyword arguments are a W3C trace context, a timer's id, both or none."""
    if not isinstance(kwargs, dict) or not set(kwargs) <= {"trace", "timer"}:
        return False
    timer = kwargs.get("timer")
    if timer is not None and not (isinstance(timer, str) and _TIMER_ID.fullmatch(timer)):
        return False
    trace = kwargs.get("trace", {})
    return isinstance(trace, dict) and all(
        key in tracing.CARRIED and isinstance(value, str) and len(value) <= _TRACE_CHARS
        for key, value in trace.items()
    )


def encode_result(data: dict[str, Any]) -> bytes:
    """arq's result record as JSON (the router keeps none; arq serialises one anyway)."""
    return json.dumps(data, default=repr).encode()


class _DataOnly(pickle.Unpickler):
    """An unpickler that builds plain data and refuses every class, function or extension."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"it names Python code ({module}.{name})")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("it refers to a persistent object")


def _refused(reason: str, payload: bytes) -> dict[str, Any]:
    excerpt = payload[:200].decode("ascii", errors="backslashreplace")
    return {"t": None, "f": REFUSED_FUNCTION, "a": [reason, excerpt], "k": {}, "et": 0}


def _check(job: Any) -> str | None:
    """Why `job` is not a router job, or None if it is one."""
    if not isinstance(job, dict) or set(job) != {"t", "f", "a", "k", "et"}:
        return "the job is not a JSON object with arq's fields t, f, a, k, et"
    args = job["a"]
    if job["f"] != JOB_FUNCTION or not isinstance(args, list | tuple) or len(args) != 2:
        return f"the job does not call {JOB_FUNCTION}(body, received_at_ms)"
    body, received_at = args
    if not isinstance(body, str | bytes) or not isinstance(received_at, int):
        return f"the job does not call {JOB_FUNCTION}(body, received_at_ms)"
    if not _kwargs_ok(job["k"]):
        return f"the job's keyword arguments are not {JOB_FUNCTION}'s (trace, timer, or none)"
    if not isinstance(job["et"], int) or not (job["t"] is None or isinstance(job["t"], int)):
        return "the job's enqueue time or try count is not a number"
    return None


def decode_job(payload: bytes) -> dict[str, Any]:
    """arq's job dictionary for `payload`; a refused-job call for anything else. Never runs code."""
    if payload[:1] == bytes([_PICKLE_PROTOCOL_MARK]):
        try:
            job = _DataOnly(io.BytesIO(payload)).load()
        except Exception as exc:  # whatever is wrong with a pickle, it is refused the same way
            return _refused(f"a pickled job was refused, nothing in it was run: {exc}", payload)
    else:
        try:
            job = json.loads(payload)
        except ValueError as exc:
            return _refused(f"the job is not in the router's JSON format: {exc}", payload)
    problem = _check(job)
    if problem is not None:
        return _refused(problem, payload)
    body = job["a"][0]
    job["a"] = [body.decode(errors="replace") if isinstance(body, bytes) else body, job["a"][1]]
    return dict(job)
