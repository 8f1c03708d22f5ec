"""The private parts of arq and uvicorn the router builds on still exist, with the shapes it
expects: an upgrade that moves one fails here, by name, instead of silently in production.

- `handlers/worker/app.py` replaces `arq.Worker.main`'s fixed poll sleep with a wait on a wake token;
  it calls `_poll_iteration` and `_jobs_started`, reads `_pool`, and replaces `start_jobs` (the same bookkeeping, its claim in one script). It makes arq's client itself
  (one Redis or through Sentinel) and sets the attributes arq's `create_pool` would.
- `receiver/protocol.py` subclasses uvicorn's `HttpToolsProtocol` to bound a request's head in
  time and bytes; it overrides its parser callbacks and reads `url`, `headers`, `cycle`.
- `common/embedded_server.py` runs the console inside `run`, and a worker's /metrics, as a second `uvicorn.Server`
  whose `capture_signals` does nothing (the outer server owns the signals); it sets
  `should_exit` to stop it.
- `handlers/worker/job.py` ends a finished job itself, deleting what arq's `finish_job` deletes,
  and `RouterWorker.finish_job` then does nothing: arq's method must keep its shape and its keys.
- `store/ordering.py` relies on arq re-scheduling a retried job with ZINCRBY in
  `finish_job`, and deleting the in-progress mark in the same transaction.
"""

from __future__ import annotations

import inspect

import pytest
from arq import Worker
from arq.connections import ArqRedis, create_pool
from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from handlers.worker.app import RouterWorker
from receiver.protocol import RouterProtocol


@pytest.mark.parametrize(
    ("name", "parameters"),
    [
        pytest.param("_poll_iteration", ["self"], id="poll"),
        pytest.param("_jobs_started", ["self"], id="jobs-started"),
        pytest.param("main", ["self"], id="main"),
        pytest.param("close", ["self"], id="close"),
        pytest.param("start_jobs", ["self", "job_ids"], id="start-jobs"),
    ],
)
def test_arq_worker_methods_the_router_calls(name: str, parameters: list[str]) -> None:
    method = getattr(Worker, name)
    assert inspect.iscoroutinefunction(method) or name == "_jobs_started"
    assert list(inspect.signature(method).parameters) == parameters


def test_arq_worker_attributes_the_router_reads() -> None:
    source = inspect.getsource(Worker.__init__)
    # RouterWorker.start_jobs is arq's, with its claim in one script: the same bookkeeping.
    # `tasks` maps a job id (text) to its task: start_jobs skips the ones still running.
    start_jobs = inspect.getsource(Worker.start_jobs)
    for line in ("await self.sem.acquire()", "if self.job_counter >= self.max_jobs:",
                 "pipe.psetex(in_progress_key, int(self.in_progress_timeout_s * 1000), b'1')",
                 "self.run_job(job_id, int(score))", "self.tasks[job_id] = t",
                 "t.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())"):  # fmt: skip
        assert line in start_jobs, line
    for attribute in ("self._pool", "self.tasks", "self.allow_pick_jobs", "self.max_burst_jobs",
                      "self.job_serializer", "self.job_deserializer", "self.expires_extra_ms"):  # fmt: skip
        assert attribute in source, attribute
    for keyword in ("job_serializer", "job_deserializer", "default_queue_name"):
        assert keyword in inspect.signature(create_pool).parameters, keyword
        assert f"self.{keyword} = {keyword}" in inspect.getsource(ArqRedis.__init__), keyword
    assert "redis_pool" in inspect.signature(Worker.__init__).parameters
    assert RouterWorker.main is not Worker.main  # the one method replaced


@pytest.mark.parametrize(
    "name",
    ["connection_made", "data_received", "on_message_begin", "on_url", "on_header",
     "on_headers_complete", "on_body", "on_message_complete", "connection_lost"],
)  # fmt: skip
def test_uvicorn_protocol_callbacks_the_router_overrides(name: str) -> None:
    original = getattr(HttpToolsProtocol, name)
    ours = getattr(RouterProtocol, name)
    assert ours is not original
    assert list(inspect.signature(ours).parameters) == list(inspect.signature(original).parameters)


def test_uvicorn_protocol_state_the_router_reads() -> None:
    source = inspect.getsource(HttpToolsProtocol)
    for attribute in ("self.url", "self.headers", "self.cycle", "self.transport", "self.loop"):
        assert attribute in source, attribute
    assert "self.response_complete" in inspect.getsource(httptools_impl.RequestResponseCycle)


def test_uvicorn_server_parts_the_embedded_console_uses() -> None:
    import uvicorn

    from common.embedded_server import EmbeddedServer

    assert "capture_signals" in vars(uvicorn.Server)
    assert list(inspect.signature(uvicorn.Server.capture_signals).parameters) == ["self"]
    assert "should_exit" in inspect.getsource(uvicorn.Server.__init__)
    assert issubclass(EmbeddedServer, uvicorn.Server)


def test_arq_reschedules_a_retry_by_increment_and_drops_its_mark_with_it() -> None:
    source = inspect.getsource(Worker.finish_job)
    assert "zincrby" in source and "in_progress_key" in source and "transaction=True" in source


def test_arq_finishes_a_done_job_by_deleting_what_the_router_deletes_itself() -> None:
    parameters = list(inspect.signature(Worker.finish_job).parameters)
    assert parameters[:3] == ["self", "job_id", "finish"]
    source = inspect.getsource(Worker.finish_job)
    for line in ("in_progress_key = in_progress_key_prefix + job_id",
                 "delete_keys += [retry_key_prefix + job_id, job_key_prefix + job_id]",
                 "tr.zrem(self.queue_name, job_id)"):  # fmt: skip
        assert line in source, line
    run_job = inspect.getsource(Worker.run_job)
    assert run_job.count("self.finish_job(") == 1  # its one way to finish a job that ran


def test_redis_py_parts_redis_wire_calls() -> None:
    """`common/redis_wire.py` sends packed commands on a pooled connection itself: the pool's
    `get_connection()` without a command name (redis-py 5.3 on), `release`, the connection's
    `send_packed_command`, `read_response`, `disconnect`, `retry_on_error` and `retry`."""
    from redis.asyncio.connection import AbstractConnection, ConnectionPool
    from redis.asyncio.retry import Retry

    required = [
        name
        for name, p in inspect.signature(ConnectionPool.get_connection).parameters.items()
        if name != "self"
        and p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    assert required == []  # called without a command name
    assert inspect.iscoroutinefunction(ConnectionPool.release)
    for name in ("send_packed_command", "read_response", "disconnect"):
        assert inspect.iscoroutinefunction(getattr(AbstractConnection, name)), name
    assert "retry_on_error" in inspect.signature(AbstractConnection.__init__).parameters
    assert list(inspect.signature(Retry.call_with_retry).parameters) == ["self", "do", "fail"]
