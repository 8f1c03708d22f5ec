"""The redactor: every registered secret, in every spelling, becomes [redacted]."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from common import redact
from kuflow_router.settings import load_settings

SECRET = 'p@ss "word"/42'


def test_a_secret_is_masked_as_written_json_escaped_and_url_encoded() -> None:
    redact.register([SECRET])
    for spelling in (SECRET, json.dumps(SECRET), quote(SECRET, safe="")):
        assert redact.redact(f"before {spelling} after").count(redact.MASK) == 1
        assert "word" not in redact.redact(spelling)


def test_short_values_are_not_secrets() -> None:
    redact.register(["INFO", "", None])
    assert redact.redact("INFO level") == "INFO level"


def test_a_renewed_token_replaces_the_old_one_in_its_slot() -> None:
    redact.register(["first-token-123"], slot="alteryx:reports")
    redact.register(["second-token-456"], slot="alteryx:reports")
    assert redact.redact("first-token-123") == "first-token-123"
    assert redact.redact("second-token-456") == redact.MASK


def test_a_redis_url_is_printed_without_its_password() -> None:
    url = "redis://router:s3cr3t-pass@redis:6379/0"
    assert redact.redact_url(url) == "redis://router:[redacted]@redis:6379/0"
    assert redact.redact_url("redis://:pw-only@host/0") == "redis://:[redacted]@host/0"
    assert redact.redact_url("redis://host:6379/0") == "redis://host:6379/0"
    query = "redis://redis:6379/0?password=q-secret%40x&db=0"
    assert redact.redact_url(query) == "redis://redis:6379/0?password=[redacted]&db=0"


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("redis://:p%40ss%2Fw0rd-long@redis:6379/0", id="percent-encoded"),
        pytest.param("redis://redis:6379/0?password=p%40ss%2Fw0rd-long", id="query"),
        pytest.param("redis://redis:6379/0?db=0&password=p@ss/w0rd-long", id="query-plain"),
    ],
)
def test_a_redis_password_is_masked_in_both_spellings(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("ROUTER_REDIS_URL", url)
    load_settings()
    said = "as written p%40ss%2Fw0rd-long, decoded p@ss/w0rd-long"
    assert redact.redact(said) == f"as written {redact.MASK}, decoded {redact.MASK}"


def test_settings_register_their_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_REDIS_URL", "redis://:redis-password-1@localhost:6379/0")
    monkeypatch.setenv("ROUTER_WEBHOOK_BASIC", "kuflow:basic-password-2")
    monkeypatch.setenv("ROUTER_ADMIN_TOKEN", "admin-token-3-of-22-characters")
    load_settings()
    text = "redis-password-1 basic-password-2 admin-token-3-of-22-characters"
    assert redact.redact(text) == " ".join([redact.MASK] * 3)
