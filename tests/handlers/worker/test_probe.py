"""The start-up probe of kuflow connections, against the KuFlow double."""

from __future__ import annotations

import pytest

from handlers.clients.kuflow import KuflowConnection
from handlers.clients.network import Client
from handlers.worker.probe import probe_kuflow
from kuflow_router.redis_server import free_port
from tests.doubles.kuflow import CLIENT_ID, CLIENT_SECRET, KuflowDouble


def connection(base_url: str, secret: str = CLIENT_SECRET) -> KuflowConnection:
    return KuflowConnection(
        type="kuflow", base_url=base_url, client_id=CLIENT_ID, client_secret=secret
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("where", "secret", "expected"),
    [
        pytest.param("", CLIENT_SECRET, None, id="kuflow"),
        pytest.param("/api", CLIENT_SECRET, "check base_url", id="wrong-base-url"),
        pytest.param("", "wrong-secret", "check client_id and client_secret", id="bad-secret"),
    ],
)
async def test_probe_says_what_to_check(
    kuflow: KuflowDouble, where: str, secret: str, expected: str | None
) -> None:
    async with Client(2) as http:
        warning = await probe_kuflow(http, "kuflow", connection(kuflow.url + where, secret))
    if expected is None:
        assert warning is None
    else:
        assert warning is not None and expected in warning
        assert secret not in warning
    assert kuflow.requests("GET", "/processes") or where


@pytest.mark.anyio
async def test_probe_of_an_unreachable_kuflow_is_a_warning() -> None:
    async with Client(2) as http:
        warning = await probe_kuflow(http, "kuflow", connection(f"http://127.0.0.1:{free_port()}"))
    assert warning is not None and "offline" in warning
