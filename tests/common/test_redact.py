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


def test_one_runs_values_mask_what_that_run_writes_and_no_other() -> None:
    import asyncio

    async def run(values: list[str]) -> str:
        redact.for_this_run(values)
        await asyncio.sleep(0)  # the other run goes meanwhile
        return redact.redact('{"ssn": "123-45-6789", "pin": "0042", "id": "7"}')

    async def both() -> list[str]:
        return list(await asyncio.gather(run(["123-45-6789", "0042", "7"]), run([])))

    masked, untouched = asyncio.run(both())
    assert masked == '{"ssn": "[redacted]", "pin": "[redacted]", "id": "7"}'  # "7": too short
    assert untouched == '{"ssn": "123-45-6789", "pin": "0042", "id": "7"}'
    assert redact.redact("123-45-6789") == "123-45-6789"  # outside either run


def test_redact_paths_mask_lists_and_mappings_whole() -> None:
    from handlers.rules import redaction

    process = {"entity": {"value": {"ssn": "123-45-6789", "cards": ["4111", "5500"],
                                    "address": {"street": "Main 1"}, "name": "Ada"}}}  # fmt: skip
    paths = ["process.entity.value.ssn", "process.entity.value.cards",
             "process.entity.value.address", "data.secret"]  # fmt: skip
    assert sorted(redaction.values(paths, {"process": process, "data": {}})) == [
        "123-45-6789", "4111", "5500", "Main 1"
    ]  # fmt: skip
    masked = redaction.masked(paths, process, "process")["entity"]["value"]
    assert masked == {"ssn": "[redacted]", "cards": "[redacted]", "address": "[redacted]",
                      "name": "Ada"}  # fmt: skip
    assert process["entity"]["value"]["ssn"] == "123-45-6789"  # a copy was masked
