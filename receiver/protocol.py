"""The receiver's HTTP protocol: uvicorn's, with the two limits on a request's head it lacks.

- **Time.** uvicorn closes a keep-alive connection that stays idle, but a client that opens a
  connection and sends nothing, or sends its headers a byte at a time (slowloris), can hold it
  for ever. Every request gets ROUTER_READ_TIMEOUT_S from its first byte (or from the
  connection's opening) to the end of its headers; past that it is answered 408 and closed.
- **Bytes.** uvicorn's httptools protocol keeps a request line and headers of any size in memory
  (three requests with 400 MB of headers took a receiver to 1.26 GB). A head over
  ROUTER_MAX_HEADER_BYTES, or with more than ROUTER_MAX_HEADERS headers, is answered 431 and
  closed as soon as it is seen — before authentication, before the app — so an outsider's head
  costs at most the limit plus one read from the socket.

The body's own limits (size, deadline) are the app's (receiver/app.py), which can answer them
in problem+json. Every listener of the router uses this protocol — the webhook's, the
console's and a worker's /metrics — each named by `listener` in what it logs; only the
webhook's refusals are counted as received events.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from receiver import metrics

log = logging.getLogger("kuflow_router.receiver")

TIMEOUT_ANSWER = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_TOO_LARGE_BODY = (
    b'{"type":"about:blank","title":"Request Header Fields Too Large","status":431,'
    b'"detail":"The request line and headers are larger than this receiver accepts."}'
)
TOO_LARGE_ANSWER = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/problem+json\r\n"
    b"content-length: " + str(len(_TOO_LARGE_BODY)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + _TOO_LARGE_BODY
)


WEBHOOK = "webhook"


class RouterProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size limit on each request's head."""

    header_timeout_s = 10.0
    max_header_bytes = 16 * 1024
    max_headers = 100
    listener = WEBHOOK
    _deadline: asyncio.TimerHandle | None = None
    _head_bytes: int | None = 0  # bytes of the current request's head so far; None in a body
    _rejected = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is held to the same deadline

    def data_received(self, data: bytes) -> None:
        if self._rejected:
            return
        if self._head_bytes is not None:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still inside the head after this read, and already past the limit: stop here. (A read
        # that also held the end of the head is checked exactly in on_headers_complete.)
        if self._head_bytes is not None and self._head_bytes > self.max_header_bytes:
            self._reject_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_url(self, url: bytes) -> None:
        if not self._rejected:
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._rejected:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        self._head_bytes = None
        size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if len(self.headers) > self.max_headers or size > self.max_header_bytes:
            self._reject_head()
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._rejected:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._rejected:
            return
        super().on_message_complete()
        self._head_bytes = 0  # what follows on this connection is the next request's head

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _close_with(self, answer: bytes) -> None:
        """Send `answer` (unless another answer is under way) and close the connection."""
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(answer)
        self.transport.close()

    def _reject_head(self) -> None:
        """Answer 431 and close: nothing more of this connection is read or kept."""
        self._rejected = True
        self._disarm()
        self.url, self.headers = b"", []
        if not self.transport.is_closing():
            self._close_with(TOO_LARGE_ANSWER)
        # Never seen by the app, so counted and logged here.
        if self.listener == WEBHOOK:
            metrics.received(None, "headers_too_large").inc()
        log.info(
            "request refused: its head is over %d bytes or %d headers",
            self.max_header_bytes,
            self.max_headers,
            extra={"outcome": "headers_too_large", "status": 431, "listener": self.listener},
        )

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        self._close_with(TIMEOUT_ANSWER)
        # Never seen by the app, so counted and logged here: how operators see slow clients.
        if self.listener == WEBHOOK:
            metrics.received(None, "timeout").inc()
        log.info(
            "request cut off: its headers did not arrive within %g s",
            self.header_timeout_s,
            extra={"outcome": "timeout", "status": 408, "listener": self.listener},
        )


def router_protocol(
    header_timeout_s: float = RouterProtocol.header_timeout_s,
    max_header_bytes: int = RouterProtocol.max_header_bytes,
    max_headers: int = RouterProtocol.max_headers,
    listener: str = WEBHOOK,
) -> type[RouterProtocol]:
    """The protocol class to give uvicorn (`http=`), with its limits set (by default the
    receiver's defaults, ROUTER_READ_TIMEOUT_S and ROUTER_MAX_HEADER_*)."""
    limits = {
        "header_timeout_s": header_timeout_s,
        "max_header_bytes": max_header_bytes,
        "max_headers": max_headers,
        "listener": listener,
    }
    return type("RouterProtocol", (RouterProtocol,), limits)
