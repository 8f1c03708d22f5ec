"""What the receiver reads of a body: nothing before authentication, never more than the limit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis

from tests.conftest import TOKEN, make_event

CHUNK = 64 * 1024


class CountingBody:
    """A streamed request body that counts how much of it the server pulled."""

    def __init__(self, total: int, head: bytes = b"") -> None:
        self.total, self.head, self.sent = total, head, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.head:
            self.sent += len(self.head)
            yield self.head
        while self.sent < self.total:
            chunk = b" " * min(CHUNK, self.total - self.sent)
            self.sent += len(chunk)
            yield chunk


@pytest.mark.anyio
async def test_unauthenticated_request_is_refused_before_the_body_is_read(
    app_client: Callable[..., Any], rdb: redis.Redis
) -> None:
    body = CountingBody(10 * CHUNK)
    async with app_client() as client:
        response = await client.post(
            "/webhooks/kuflow", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 401
    assert body.sent == 0


@pytest.mark.anyio
async def test_50_mb_streamed_body_is_cut_off_at_the_limit(
    app_client: Callable[..., Any], rdb: redis.Redis
) -> None:
    head = json.dumps(make_event()).encode()[:-1] + b', "padding": "'
    body = CountingBody(50 * 1024 * 1024, head)
    async with app_client() as client:
        response = await client.post(
            f"/webhooks/kuflow/{TOKEN}", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 413
    assert body.sent <= 1024 * 1024 + 2 * CHUNK  # the default 1 MiB limit, and one chunk more
    assert rdb.dbsize() == 0


@pytest.mark.anyio
async def test_declared_length_over_the_limit_is_refused_unread(
    app_client: Callable[..., Any], rdb: redis.Redis
) -> None:
    body = CountingBody(4 * CHUNK)
    headers = {"content-type": "application/json", "content-length": str(4 * CHUNK)}
    async with app_client(max_body_bytes=CHUNK) as client:
        response = await client.post(f"/webhooks/kuflow/{TOKEN}", content=body, headers=headers)
    assert response.status_code == 413
    assert body.sent == 0
