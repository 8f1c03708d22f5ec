"""Settings from the environment: parsing, and errors that name the variable but not its value."""

from __future__ import annotations

import pytest

from common.errors import SettingsError
from receiver.auth import AuthConfig
from receiver.settings import load_settings
from tests.conftest import SECRET


def test_defaults() -> None:
    settings = load_settings()
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.dedup_ttl_s == settings.event_ttl_s == 7 * 24 * 3600
    assert settings.signature_tolerance_s == 300
    assert settings.log_format == "json"


def test_comma_separated_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "ROUTER_WEBHOOK_TOKENS", " new-token-0123456789abcdef , old-token-0123456789abcdef ,"
    )
    monkeypatch.setenv("ROUTER_WEBHOOK_BASIC", "kuflow:pa:ss,ops:x")
    monkeypatch.setenv("ROUTER_WEBHOOK_SECRETS", SECRET)
    monkeypatch.setenv("ROUTER_LOG_LEVEL", "debug")
    settings = load_settings()
    assert [t.get_secret_value() for t in settings.webhook_tokens] == [
        "new-token-0123456789abcdef",
        "old-token-0123456789abcdef",
    ]
    assert AuthConfig.from_settings(settings).basic == (b"kuflow:pa:ss", b"ops:x")
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        pytest.param("ROUTER_MAX_BODY_BYTES", "lots", "valid integer", id="int-text"),
        pytest.param("ROUTER_MAX_BODY_BYTES", "0", "greater than 0", id="int-zero"),
        pytest.param("ROUTER_READ_TIMEOUT_S", "0", "greater than 0", id="timeout-zero"),
        pytest.param("ROUTER_READ_TIMEOUT_S", "soon", "valid number", id="timeout-text"),
        pytest.param("ROUTER_INSECURE_NO_AUTH", "maybe", "valid boolean", id="bool"),
        pytest.param("ROUTER_LOG_FORMAT", "xml", "'json' or 'text'", id="log-format"),
        pytest.param(
            "ROUTER_WEBHOOK_BASIC", "just-a-user-supersecret", "user:password", id="basic"
        ),
        pytest.param(
            "ROUTER_WEBHOOK_SECRETS", "supersecret", "must start with 'whsec_'", id="no-prefix"
        ),
        pytest.param("ROUTER_WEBHOOK_SECRETS", "whsec_supersecret!!", "not valid base64", id="b64"),
        pytest.param(
            "ROUTER_WEBHOOK_SECRETS", "whsec_c3VwZXJzZWNyZXQ=", "shorter than 16", id="short"
        ),
    ],
)
def test_bad_value_names_the_variable_and_hides_the_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    text = str(caught.value)
    assert f"{variable}: " in text
    assert message in text
    assert "supersecret" not in text


def test_every_bad_variable_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_DEDUP_TTL_S", "-1")
    monkeypatch.setenv("ROUTER_MAX_HEADERS", "many")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "ROUTER_DEDUP_TTL_S" in str(caught.value)
    assert "ROUTER_MAX_HEADERS" in str(caught.value)


def test_no_auth_refuses_and_names_the_fixes() -> None:
    with pytest.raises(SettingsError) as caught:
        AuthConfig.from_settings(load_settings())
    for name in (
        "ROUTER_WEBHOOK_TOKENS",
        "ROUTER_WEBHOOK_BASIC",
        "ROUTER_WEBHOOK_SECRETS",
        "ROUTER_INSECURE_NO_AUTH=true",
    ):
        assert name in str(caught.value)


def test_insecure_mode_is_explicit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_INSECURE_NO_AUTH", "true")
    assert AuthConfig.from_settings(load_settings()).modes == []


def test_a_short_webhook_token_is_refused_with_how_to_make_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROUTER_WEBHOOK_TOKENS", "x")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "ROUTER_WEBHOOK_TOKENS: item 1 is shorter than 22 characters" in message
    assert "secrets.token_urlsafe" in message
