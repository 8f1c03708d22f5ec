"""The worker's HTTP transport: httpx over plain asyncio streams, one connection pool.

httpx reaches the network through httpcore, whose default backend for asyncio goes through
anyio. httpcore asks every idle connection of the pool whether the server has closed it each
time a request comes or goes, and anyio answers by building its whole table of socket
attributes — two system calls per connection per question (encode/httpcore#928). With ten
connections to a fast API that made a call cost 0.72 ms of CPU; on this backend it costs 0.43
ms (issue 7). This backend answers from the stream's own state instead: the event loop has
already read a server's FIN or RST into it, so no system call is needed.

Everything else stays httpx and httpcore: the request, the response, HTTP/1.1 itself, the
pool's rules and the exceptions, which this module raises as httpcore's own, so that httpx
maps them to the `httpx.TransportError` family the clients classify as transient.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

# How long a connection may stay idle in the pool: below the keep-alive timeout of common
# servers (5 s for uvicorn, nginx's default is 75 s), so the pool rarely offers one that the
# server is closing at that moment.
KEEPALIVE_EXPIRY_S = 4.0


@contextmanager
def _mapped(timeout: type[Exception], error: type[Exception]) -> Iterator[None]:
    """Raise socket failures as the httpcore exceptions httpx expects from a backend."""
    try:
        yield
    except TimeoutError as exc:
        raise timeout(str(exc) or "timed out") from exc
    except (OSError, EOFError) as exc:  # ssl.SSLError is an OSError
        raise error(str(exc) or type(exc).__name__) from exc


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection, as an asyncio reader/writer pair."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _mapped(httpcore.ReadTimeout, httpcore.ReadError):
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)  # b"" once the server has closed

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        with _mapped(httpcore.WriteTimeout, httpcore.WriteError):
            if self._writer.is_closing():
                raise ConnectionResetError("the connection is closed")
            self._writer.write(buffer)
            async with asyncio.timeout(timeout):
                await self._writer.drain()

    async def aclose(self) -> None:
        self._writer.close()  # the transport finishes closing by itself; nothing to wait for

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> AsyncioStream:
        with _mapped(httpcore.ConnectTimeout, httpcore.ConnectError):
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # Asked of idle connections only: anything arrived (data, FIN, RST) means the
            # server is done with it.
            return (
                self._writer.is_closing()
                or self._reader.at_eof()
                or self._reader.exception() is not None
                or bool(getattr(self._reader, "_buffer", b""))  # asyncio has no public peek
            )
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "socket":
            return self._writer.get_extra_info("socket")
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections with asyncio (on whatever loop runs: uvloop in production)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> AsyncioStream:
        with _mapped(httpcore.ConnectTimeout, httpcore.ConnectError):
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, local_addr=(local_address, 0) if local_address else None
                )
        sock: socket.socket | None = writer.get_extra_info("socket")
        if sock is not None:
            for option in socket_options or ():
                sock.setsockopt(*option)
        return AsyncioStream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class AsyncioTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with its pool on `AsyncioBackend`."""

    def __init__(self, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None) -> None:
        context = ssl_context or httpx.create_ssl_context()  # certificates verified by default
        super().__init__(verify=context, limits=limits)
        if not isinstance(getattr(self, "_pool", None), httpcore.AsyncConnectionPool):
            # httpx keeps the pool in `_pool` (since 0.18); fail loudly if that ever changes.
            raise RuntimeError("this httpx version keeps no httpcore pool in `_pool`")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=KEEPALIVE_EXPIRY_S,
            network_backend=AsyncioBackend(),
        )


def worker_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
    """`AsyncioTransport`, or None when the environment names a proxy (`HTTPS_PROXY`, …):
    httpx's own transports then route the calls through it, as they always have (give the
    client the same `limits` for those)."""
    if any(scheme in urllib.request.getproxies() for scheme in ("http", "https", "all")):
        return None
    return AsyncioTransport(limits)
