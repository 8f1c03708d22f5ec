"""rediss://: the router talks TLS to a Redis started with TLS, verifying its certificate and
host name against the CA the URL names; a certificate from elsewhere, or for another name, is
refused."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import trustme

from common.redis_url import client
from handlers.worker.app import redis_pool
from kuflow_router.redis_server import find_binary, free_port
from receiver.app import connect_redis
from tests.ha import wait


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A redis-server on TLS only, its certificate for `localhost` from a throwaway CA."""
    directory = tmp_path_factory.mktemp("tls")
    authority = trustme.CA()
    certificate = authority.issue_cert("localhost")
    certificate.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
    certificate.private_key_pem.write_to_path(str(directory / "key.pem"))
    authority.cert_pem.write_to_path(str(directory / "ca.pem"))
    port = free_port()
    server = subprocess.Popen(
        [find_binary(), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", "cert.pem", "--tls-key-file", "key.pem", "--tls-ca-cert-file",
         "ca.pem", "--tls-auth-clients", "no", "--save", ""],
        cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        probe = redis.Redis(port=port, ssl=True, ssl_ca_certs=str(directory / "ca.pem"),
                            socket_timeout=1)  # fmt: skip
        wait(lambda: server.poll() is not None or _answers(probe), "the TLS redis-server")
        if server.poll() is not None:
            pytest.skip("this redis-server does not run TLS (built without it)")
        probe.close()
        yield port, directory / "ca.pem"
    finally:
        server.kill()
        server.wait()


def _answers(probe: redis.Redis) -> bool:
    try:
        return bool(probe.ping())
    except redis.RedisError:
        return False


def _ping(url: str) -> bool:
    async def go() -> bool:
        async with client(url, socket_connect_timeout=2) as connection:
            return bool(await connection.ping())

    return asyncio.run(go())


def test_the_receiver_worker_and_tools_verify_the_certificate(tls_redis: tuple[int, Path]) -> None:
    port, ca = tls_redis
    url = f"rediss://localhost:{port}/0?ssl_ca_certs={ca}"
    assert _ping(url)

    async def receiver_and_worker() -> None:
        receiver = connect_redis(url)
        worker = redis_pool(url)
        assert await receiver.ping() and await worker.ping()
        await receiver.aclose()
        await worker.aclose()

    asyncio.run(receiver_and_worker())


def test_a_certificate_from_another_authority_is_refused(tls_redis: tuple[int, Path]) -> None:
    port, _ = tls_redis
    with pytest.raises(redis.exceptions.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        _ping(f"rediss://localhost:{port}/0")  # the system's CAs do not know the throwaway one


def test_a_certificate_for_another_name_is_refused(tls_redis: tuple[int, Path]) -> None:
    port, ca = tls_redis
    with pytest.raises(redis.exceptions.ConnectionError, match=r"match|mismatch|IP address"):
        _ping(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca}")  # the certificate says localhost
