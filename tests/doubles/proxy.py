"""A TCP proxy in front of an API double that resets a share of connections (TCP RST).

Half of the resets happen before a request reaches the double, half after the double has
answered — the window where the caller never learns that its call took effect.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading

from kuflow_router.redis_server import free_port


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class ResettingProxy:
    """Forwards 127.0.0.1:port to a target port; `rate` of the exchanges end in a reset."""

    def __init__(self, target_port: int, rate: float, seed: int = 3) -> None:
        self.target_port = target_port
        self.rate = rate
        self.resets = 0
        self._random = random.Random(seed)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._writers: set[asyncio.StreamWriter] = set()  # every open connection, both sides

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _roll(self) -> bool:
        if self._random.random() < self.rate / 2:
            self.resets += 1
            return True
        return False

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, victim: asyncio.StreamWriter
    ) -> None:
        try:
            while data := await source.read(65536):
                if self._roll():
                    _reset(victim)
                    sink.close()
                    return
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self._writers.add(client_w)
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            _reset(client_w)
            return
        self._writers.add(server_w)
        await asyncio.gather(
            self._pipe(client_r, server_w, client_w),  # a reset before the double sees it
            self._pipe(server_r, client_w, client_w),  # a reset after the double answered
        )

    def start(self) -> None:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self.port), self._loop
        )
        self._server = started.result(timeout=10)

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            # Connections still open (a client keeping one alive) are cut, and their handlers
            # end here: left to the garbage collector, they warn in a later test.
            for writer in self._writers:
                writer.transport.abort()
            handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()  # its self-pipe is a socket pair: left open, GC warns in a later test
