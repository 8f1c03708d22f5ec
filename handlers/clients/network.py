"""The worker's HTTP client: aiohttp, one pool of keep-alive connections per worker.

Every call of every action goes through `Client.request` (by way of `handlers/clients/send.py`).
aiohttp parses HTTP in C: a call costs a seventh or less of the CPU of stock httpx's, a sixth
of httpx's on the transport the worker had before (bench/http_client.py), and the call was the
largest share of the worker's time per event (issue 21).

What the router needs of it, each tested in tests/handlers/clients/test_network.py:
- certificates and host names are verified (the system's CA store, or a given context);
- the URL goes out byte for byte as `handlers/clients/base.url` built it: path parameters
  stay encoded, nothing is normalised or re-encoded on the way;
- redirects are not followed and no cookies are kept: each call is exactly the one planned;
- a proxy named in the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`) is
  used, as by any HTTP client; nothing else is read from it (no `.netrc`);
- a connection idle for KEEPALIVE_EXPIRY_S is closed;
- failures come out as `NetworkError` (no answer: refused, reset, TLS, DNS) or `TimeoutError`.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

# How long a connection may stay idle in the pool: below the keep-alive timeout of common
# servers (5 s for uvicorn, nginx's default is 75 s), so the pool rarely offers one that the
# server is closing at that moment.
KEEPALIVE_EXPIRY_S = 4.0


def _user_agent() -> str:
    try:
        return f"kuflow-router/{version('kuflow-router')}"
    except PackageNotFoundError:
        return "kuflow-router"


USER_AGENT = _user_agent()


class NetworkError(Exception):
    """The call got no answer: the connection was refused or reset, TLS or DNS failed; `kind`
    says which, in words an operator groups failures by."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def failure_kind(exc: aiohttp.ClientError) -> str:
    """What went wrong, in a few words: `connection refused`, `DNS failure`, `TLS error` …"""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "DNS failure"
    if isinstance(exc, aiohttp.ClientSSLError | aiohttp.ClientConnectorCertificateError):
        return "TLS error"
    if isinstance(exc, aiohttp.ClientConnectorError):
        cause = exc.os_error
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ssl.SSLError):
            return "TLS error"
        return "cannot connect"
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return "connection closed by the server"
    if isinstance(exc, aiohttp.ClientOSError):
        return "connection reset"
    return "network error"


def _said(exc: aiohttp.ClientError, kind: str, url: str) -> str:
    """The failure as an operator reads it: its kind and the host, without aiohttp's
    `ssl:default` noise for a plain http URL."""
    parts = urlsplit(url)
    detail = str(exc)
    if isinstance(exc, aiohttp.ClientConnectorError):
        detail = str(exc.os_error) if exc.os_error else ""
    return f"{kind} ({parts.netloc}{': ' + detail if detail else ''})"


@dataclass(frozen=True)
class Answer:
    """An HTTP response, read whole."""

    method: str
    url: str
    status: int
    reason: str
    headers: Mapping[str, str]  # case-insensitive
    body: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON.

        Raises:
            ValueError: it is not JSON.
        """
        return json.loads(self.body)


class Client:
    """One pool of up to `connections` connections; make it inside the running event loop."""

    def __init__(self, connections: int, ssl_context: ssl.SSLContext | None = None) -> None:
        connector = aiohttp.TCPConnector(
            limit=connections,
            keepalive_timeout=KEEPALIVE_EXPIRY_S,
            ssl=ssl_context if ssl_context is not None else True,  # True: verified, system CAs
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": USER_AGENT},
            trust_env=False,  # proxies below, from the environment as read at start; no .netrc
        )
        self._proxies = {
            scheme: address
            for scheme, address in urllib.request.getproxies().items()
            if scheme in ("http", "https", "all")
        }

    def _proxy(self, url: str) -> str | None:
        if not self._proxies:
            return None
        parts = urlsplit(url)
        if urllib.request.proxy_bypass(parts.hostname or ""):  # NO_PROXY
            return None
        return self._proxies.get(parts.scheme) or self._proxies.get("all")

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout_s: float,
    ) -> Answer:
        """Send one request and read its whole answer, whatever its status.

        Raises:
            NetworkError: no answer came (refused, reset, TLS, DNS).
            TimeoutError: the exchange took longer than `timeout_s`.
        """
        try:
            async with self._session.request(
                method,
                URL(url, encoded=True),  # as built: no re-encoding, no normalising
                headers=headers,
                data=body,
                allow_redirects=False,
                proxy=self._proxy(url),
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as response:
                content = await response.read()
                return Answer(method, url, response.status, response.reason or "",
                              response.headers, content)  # fmt: skip
        except TimeoutError:
            raise
        except aiohttp.ClientError as exc:
            kind = failure_kind(exc)
            raise NetworkError(_said(exc, kind, url), kind) from None

    async def aclose(self) -> None:
        await self._session.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
