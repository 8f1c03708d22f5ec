"""A deadline for a request's headers, which uvicorn does not have.

uvicorn closes a keep-alive connection that stays idle, but a client that opens a connection and
sends nothing, or sends its headers a byte at a time (slowloris), can hold it for ever. This
protocol gives every request ROUTER_READ_TIMEOUT_S from its first byte (or from the
connection's opening) to the end of its headers; past that it answers 408 and closes. The
body's own deadline is the app's (receiver/app.py), which can answer it in problem+json.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from receiver import metrics

log = logging.getLogger("kuflow_router.receiver")

TIMEOUT_ANSWER = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline from a request's start to its headers' end."""

    header_timeout_s = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is held to the same deadline

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

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

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:  # never inside another answer
            self.transport.write(TIMEOUT_ANSWER)
        self.transport.close()
        # Never seen by the app, so counted and logged here: how operators see slow clients.
        metrics.received(None, "timeout").inc()
        log.info(
            "request cut off: its headers did not arrive within %g s",
            self.header_timeout_s,
            extra={"outcome": "timeout", "status": 408},
        )


def with_header_deadline(seconds: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class to give uvicorn (`http=`), with its deadline set."""
    return type("HeaderDeadline", (HeaderDeadlineProtocol,), {"header_timeout_s": seconds})
