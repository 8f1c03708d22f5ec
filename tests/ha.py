"""A Redis primary, a replica and three sentinels on loopback, for the high-availability tests:
the same `redis-server` binary runs as a sentinel with `--sentinel`."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from kuflow_router.redis_server import find_binary, free_port

SERVICE = "mymaster"
# A sentinel calls a server down after this long without an answer. At one second, a sentinel
# on a loaded machine judged a just-promoted replica (stopped a moment before) down and failed
# over back to the old primary; two leave room for the load of the chaos scenario.
DOWN_AFTER_MS = 2000


@dataclass
class Node:
    """One redis-server process (a data node or a sentinel)."""

    port: int
    args: list[str]
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, replica_of: int | None = None) -> None:
        """Start the server (again), as the replica of the primary on port `replica_of` if given."""
        following = ["--replicaof", "127.0.0.1", str(replica_of)] if replica_of else []
        with (self.directory / "log").open("ab") as log:
            self.process = subprocess.Popen(
                [find_binary(), *self.args, *following], cwd=self.directory, stdout=log,
                stderr=log, start_new_session=True,
            )  # fmt: skip
        wait(lambda: _pings(self.port), f"redis-server on port {self.port}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last write to disk."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def pause(self) -> None:
        """SIGSTOP: alive, but answering nobody (a data node only: a sentinel stopped for over
        two seconds distrusts its clock and does nothing for 30 s, its TILT mode)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGCONT)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2)


@dataclass
class Cluster:
    """Primary, replica, sentinels; `url` is the router's ROUTER_REDIS_URL for them."""

    primary: Node
    replica: Node
    sentinels: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def primary_port(self) -> int:
        """The port the sentinels name as primary now."""
        with redis.Redis(port=self.sentinels[0].port, socket_timeout=2) as sentinel:
            _, port = sentinel.sentinel_get_master_addr_by_name(SERVICE)
        return int(port)

    def replicas_seen(self) -> int:
        """How many replicas every sentinel knows of (they learn it by polling the primary)."""
        counts = []
        for node in self.sentinels:
            with redis.Redis(port=node.port, socket_timeout=2) as sentinel:
                counts.append(len(sentinel.sentinel_slaves(SERVICE)))
        return min(counts)

    def follow_sentinels(self) -> bool:
        """Whether one node is the sentinels' primary and the other its replica, in sync; if
        so, `primary` and `replica` name them (a sentinel may have failed over again)."""
        try:
            port = self.primary_port()
        except redis.RedisError:
            return False
        nodes = (self.primary, self.replica)
        primary = next((node for node in nodes if node.port == port), None)
        if primary is None:
            return False
        replica = self.replica if primary is self.primary else self.primary
        if not in_sync(replica):
            return False
        self.primary, self.replica = primary, replica
        return True

    def set_down_after(self, ms: int) -> None:
        """How long the sentinels wait before they call the primary down (and fail over)."""
        for node in self.sentinels:
            with node.client() as sentinel:
                sentinel.execute_command("SENTINEL", "SET", SERVICE, "down-after-milliseconds", ms)

    def stop(self) -> None:
        for node in (*self.sentinels, self.primary, self.replica):
            node.kill()


def _pings(port: int) -> bool:
    try:
        with redis.Redis(port=port, socket_timeout=0.5) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def wait(condition: object, what: str, limit_s: float = 60.0) -> None:
    """Poll `condition()` until it holds; the limit guards against a hang, it is no speed test."""
    deadline = time.monotonic() + limit_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def _data_node(directory: Path, port: int, primary_port: int | None = None) -> Node:
    directory.mkdir(parents=True, exist_ok=True)
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
            "--appendfsync", "everysec", "--dir", str(directory)]  # fmt: skip
    if primary_port is not None:
        args += ["--replicaof", "127.0.0.1", str(primary_port)]
    return Node(port, args, directory)


def _sentinel(directory: Path, port: int, primary_port: int) -> Node:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "sentinel.conf"  # a sentinel rewrites its file: one of its own each
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
        f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2\n"
        f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
        f"sentinel failover-timeout {SERVICE} 10000\n"
        f"sentinel parallel-syncs {SERVICE} 1\n"
    )
    return Node(port, [str(config), "--sentinel"], directory)


@contextmanager
def sentinel_cluster(directory: Path) -> Iterator[Cluster]:
    """Primary and replica in sync, three sentinels that all know both."""
    primary_port, replica_port = free_port(), free_port()
    cluster = Cluster(
        _data_node(directory / "a", primary_port),
        _data_node(directory / "b", replica_port, primary_port),
    )
    try:
        cluster.primary.start()
        cluster.replica.start()
        for n in range(3):
            node = _sentinel(directory / f"sentinel-{n}", free_port(), primary_port)
            node.start()
            cluster.sentinels.append(node)
        wait(lambda: in_sync(cluster.replica), "the replica")
        # A sentinel learns of replicas by polling the primary every 10 s: wait until all have.
        wait(lambda: cluster.replicas_seen() >= 1, "the sentinels to see the replica", 60)
        yield cluster
    finally:
        cluster.stop()


def in_sync(replica: Node) -> bool:
    """Whether `replica` follows a primary and its link is up."""
    try:
        with replica.client() as client:
            return client.info("replication").get("master_link_status") == "up"
    except redis.RedisError:
        return False
