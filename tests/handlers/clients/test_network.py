"""The worker's HTTP client (handlers/clients/network.py), against a minimal HTTP/1.1 server."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trustme

from handlers.clients.network import USER_AGENT, Client, NetworkError

ANSWER = (
    b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'
)


class Server:
    """A minimal HTTP/1.1 server: answers every request with ANSWER, counts connections."""

    def __init__(
        self, close_after_answer: bool = False, silent: bool = False, answer: bytes = ANSWER
    ) -> None:
        self.connections = 0
        self.requests: list[bytes] = []  # the head of each request, as it arrived
        self.closed = asyncio.Event()
        self.handlers: list[tuple[asyncio.Task[None], asyncio.StreamWriter]] = []
        self._close_after_answer = close_after_answer
        self._silent = silent
        self._answer = answer

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self.handlers.append((task, writer))
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                self.requests.append(head)
                length = _content_length(head)
                if length:
                    await reader.readexactly(length)
                if self._silent:
                    await asyncio.sleep(3600)
                writer.write(self._answer)
                await writer.drain()
                if self._close_after_answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()
        self.closed.set()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


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
    async with serving(Server(), server_context(ca)) as url, Client(2, trusting) as client:
        answer = await client.request("GET", f"{url}/x", {}, None, 5)
        assert (answer.status, answer.json()) == (200, {"ok": True})


@pytest.mark.anyio
async def test_tls_certificates_are_verified_by_default(ca: trustme.CA) -> None:
    async with serving(Server(), server_context(ca)) as url, Client(2) as client:
        with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.request("GET", f"{url}/x", {}, None, 5)


@pytest.mark.anyio
async def test_the_request_goes_out_as_planned() -> None:
    """Byte for byte: the encoded path stays encoded, the headers and body are ours, the
    User-Agent names the router; no cookie is kept from one answer to the next."""
    server = Server()
    async with serving(server) as url, Client(2) as client:
        path = "/tasks/a%2Fb%252e%252e?x=1%202"
        headers = {"Authorization": "Bearer t", "Content-Type": "application/json"}
        await client.request("POST", url + path, headers, b'{"a":1}', 5)
        await client.request("GET", f"{url}/again", {}, None, 5)
    first, second = server.requests
    assert first.startswith(f"POST {path} HTTP/1.1\r\n".encode())
    assert b"\r\nAuthorization: Bearer t\r\n" in first
    assert f"\r\nUser-Agent: {USER_AGENT}\r\n".encode() in first
    assert b"content-length: 7" in first.lower()
    assert b"cookie" not in second.lower()


@pytest.mark.anyio
async def test_redirects_are_not_followed() -> None:
    server = Server(
        answer=b"HTTP/1.1 302 Found\r\nlocation: /elsewhere\r\ncontent-length: 0\r\n\r\n"
    )
    async with serving(server) as url, Client(2) as client:
        answer = await client.request("POST", f"{url}/x", {}, b"{}", 5)
    assert (answer.status, answer.headers["Location"], len(server.requests)) == (
        302,
        "/elsewhere",
        1,
    )


@pytest.mark.anyio
async def test_connections_are_kept_alive_and_reused() -> None:
    server = Server()
    async with serving(server) as url, Client(2) as client:
        for _ in range(5):
            assert (await client.request("GET", f"{url}/x", {}, None, 5)).status == 200
    assert server.connections == 1


@pytest.mark.anyio
async def test_a_connection_the_server_closed_is_not_reused() -> None:
    server = Server(close_after_answer=True)
    async with serving(server) as url, Client(2) as client:
        assert (await client.request("GET", f"{url}/x", {}, None, 5)).status == 200
        await server.closed.wait()
        for _ in range(100):  # the client's loop reads the FIN on one of its next turns
            await asyncio.sleep(0.01)
        assert (await client.request("GET", f"{url}/x", {}, None, 5)).status == 200
    assert server.connections == 2


@pytest.mark.anyio
async def test_failures_are_a_timeout_or_a_network_error() -> None:
    async with serving(Server(silent=True)) as url, Client(2) as client:
        with pytest.raises(TimeoutError):
            await client.request("GET", f"{url}/x", {}, None, 0.2)
        with pytest.raises(NetworkError, match=r"127\.0\.0\.1:1"):
            await client.request("GET", "http://127.0.0.1:1/x", {}, None, 5)


@pytest.mark.anyio
@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
async def test_a_proxy_in_the_environment_is_used(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """The request goes to the proxy, naming the API's URL whole (RFC 9112's absolute form)."""
    proxy = Server()
    async with serving(proxy) as proxy_url:
        monkeypatch.setenv(variable, proxy_url)
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        async with Client(2) as client:
            await client.request("GET", "http://api.example/v1/x", {}, None, 5)
            with pytest.raises(NetworkError):  # NO_PROXY: straight there, where nothing listens
                await client.request("GET", "http://127.0.0.1:1/x", {}, None, 5)
    (head,) = proxy.requests
    assert head.startswith(b"GET http://api.example/v1/x HTTP/1.1\r\n")


@pytest.mark.anyio
async def test_each_failure_says_its_kind_in_words_an_operator_groups_by(
    ca: trustme.CA,
) -> None:
    async with serving(Server(), server_context(ca)) as tls_url, Client(2) as client:
        with pytest.raises(NetworkError) as refused:
            await client.request("GET", "http://127.0.0.1:1/x", {}, None, 5)
        with pytest.raises(NetworkError) as untrusted:
            await client.request("GET", f"{tls_url}/x", {}, None, 5)
        plain = tls_url.replace("https://", "http://")
        with pytest.raises(NetworkError) as closed:  # plain HTTP to a TLS port: no answer
            await client.request("GET", f"{plain}/x", {}, None, 5)
    assert refused.value.kind == "connection refused"
    assert str(refused.value).startswith("connection refused (127.0.0.1:1")
    assert "ssl:default" not in str(refused.value)
    assert untrusted.value.kind == "TLS error"
    assert closed.value.kind in ("connection closed by the server", "connection reset")
