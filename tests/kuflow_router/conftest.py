"""What the command line's tests share."""

from __future__ import annotations

import pytest


@pytest.fixture
def env(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The commands' Redis (ROUTER_REDIS_URL): the test's own."""
    monkeypatch.setenv("ROUTER_REDIS_URL", redis_url)
    return redis_url
