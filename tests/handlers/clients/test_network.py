"""The worker's transport: httpx over plain asyncio streams (handlers/clients/network.py)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpcore
import httpx
import pytest
import trustme

from handlers.clients.network import AsyncioBackend, AsyncioTransport, worker_transport

LIMITS = httpx.Limits(max_connections=2, max_keepalive_connections=2)
ANSWER = (
    b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'
)


class Server:
    """A minimal HTTP/1.1 server: answers every request with ANSWER, counts connections."""

    def __init__(self, close_after_answer: bool = False, silent: bool = False) -> None:
        self.connections = 0
        self.closed = asyncio.Event()
        self.handlers: list[tuple[asyncio.Task[None], asyncio.StreamWriter]] = []
        self._close_after_answer = close_after_answer
        self._silent = silent

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self.handlers.append((task, writer))
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                if self._silent:
                    await asyncio.sleep(3600)
                writer.write(ANSWER)
                await writer.drain()
                if self._close_after_answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()
        self.closed.set()


@asynccontextmanager
async def serving(server: Server, context: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=context)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if context else 'http'}://localhost:{port}"
    finally:
        listener.close()
        for task, writer in server.handlers:
            task.cancel()
            writer.close()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, ssl.SSLError):
                await task
                await writer.wait_closed()


@pytest.fixture(
    params=[
        pytest.param(("asyncio", {}), id="asyncio"),
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),  # the worker's loop
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, bool]]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    return context


@pytest.mark.anyio
async def test_tls_with_a_trusted_certificate(ca: trustme.CA) -> None:
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    async with (
        serving(Server(), server_context(ca)) as url,
        httpx.AsyncClient(transport=AsyncioTransport(LIMITS, trusting)) as client,
    ):
        response = await client.get(f"{url}/x")
        assert response.json() == {"ok": True}
        assert response.extensions["network_stream"].get_extra_info("ssl_object") is not None


@pytest.mark.anyio
async def test_tls_certificates_are_verified_by_default(ca: trustme.CA) -> None:
    async with (
        serving(Server(), server_context(ca)) as url,
        httpx.AsyncClient(transport=AsyncioTransport(LIMITS)) as client,
    ):
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get(f"{url}/x")


@pytest.mark.anyio
async def test_connections_are_kept_alive_and_reused() -> None:
    server = Server()
    async with (
        serving(server) as url,
        httpx.AsyncClient(transport=AsyncioTransport(LIMITS)) as client,
    ):
        for _ in range(5):
            assert (await client.get(f"{url}/x")).status_code == 200
    assert server.connections == 1


@pytest.mark.anyio
async def test_a_connection_the_server_closed_is_not_reused() -> None:
    server = Server(close_after_answer=True)
    async with (
        serving(server) as url,
        httpx.AsyncClient(transport=AsyncioTransport(LIMITS)) as client,
    ):
        assert (await client.get(f"{url}/x")).status_code == 200
        await server.closed.wait()
        for _ in range(100):  # the client's loop reads the FIN on one of its next turns
            await asyncio.sleep(0.01)
        assert (await client.get(f"{url}/x")).status_code == 200
    assert server.connections == 2


@pytest.mark.anyio
async def test_an_idle_stream_reports_readable_once_the_server_closes() -> None:
    server = Server(close_after_answer=True)
    async with serving(server) as url:
        port = int(url.rsplit(":", 1)[1])
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
        assert stream.get_extra_info("is_readable") is False
        await stream.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n", timeout=5)
        assert await stream.read(len(ANSWER), timeout=5) == ANSWER
        await server.closed.wait()
        for _ in range(500):
            if stream.get_extra_info("is_readable"):
                break
            await asyncio.sleep(0.01)
        assert stream.get_extra_info("is_readable") is True
        assert await stream.read(100, timeout=5) == b""
        await stream.aclose()


@pytest.mark.anyio
async def test_failures_surface_as_httpx_transport_errors() -> None:
    async with (
        serving(Server(silent=True)) as url,
        httpx.AsyncClient(transport=AsyncioTransport(LIMITS)) as client,
    ):
        with pytest.raises(httpx.ReadTimeout):
            await client.get(f"{url}/x", timeout=0.2)
    with pytest.raises(httpcore.ConnectError):
        await AsyncioBackend().connect_tcp("127.0.0.1", 1, timeout=5)


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "ALL_PROXY"])
def test_a_proxy_in_the_environment_keeps_httpx_own_transport(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "http://proxy.internal:3128")
    assert worker_transport(LIMITS) is None


def test_without_a_proxy_the_asyncio_transport_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "ALL_PROXY",
        "https_proxy",
        "http_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(worker_transport(LIMITS), AsyncioTransport)


@pytest.mark.anyio
async def test_stream_details_and_a_write_after_close() -> None:
    async with serving(Server()) as url:
        port = int(url.rsplit(":", 1)[1])
        keepalive = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
        stream = await AsyncioBackend().connect_tcp(
            "127.0.0.1", port, timeout=5, socket_options=keepalive
        )
        sock = stream.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert stream.get_extra_info("server_addr")[1] == port
        assert stream.get_extra_info("client_addr")[0] == "127.0.0.1"
        assert stream.get_extra_info("ssl_object") is None
        assert stream.get_extra_info("anything else") is None
        await stream.write(b"", timeout=5)  # nothing to send is no error
        await stream.aclose()
        with pytest.raises(httpcore.WriteError):
            await stream.write(b"GET / HTTP/1.1\r\n\r\n", timeout=5)
