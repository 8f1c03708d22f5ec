"""Typed settings from ROUTER_* environment variables, shared by every command.

Configuration is environment only (SPEC §7). A bad value stops the process at start with a
message naming the variable — and never echoing its value, which may be a secret.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from receiver import redact
from receiver.errors import SettingsError

ENV_PREFIX = "ROUTER_"
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)

MAX_CONCURRENCY = 1000
MIN_TOKEN_CHARS = 22  # 16 random bytes in URL-safe base64, as secrets.token_urlsafe(16) gives
SecretList = Annotated[tuple[SecretStr, ...], NoDecode]


def _split(value: object) -> object:
    """Split a comma-separated variable into its non-empty, stripped items."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


class Settings(BaseSettings):
    """Every ROUTER_* variable, with its default."""

    # An empty variable (as in a copied .env.example) means "use the default".
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, env_ignore_empty=True
    )

    redis_url: str | None = None
    rules_file: Path = Path("rules.yaml")
    webhook_tokens: SecretList = ()
    webhook_basic: SecretList = ()
    webhook_secrets: SecretList = ()
    signature_tolerance_s: int = Field(default=300, gt=0)
    insecure_no_auth: bool = False
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    read_timeout_s: float = Field(default=10.0, gt=0, le=3600)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    max_headers: int = Field(default=100, ge=10, le=1000)
    dedup_ttl_s: int = Field(default=7 * 24 * 3600, gt=0)
    event_ttl_s: int = Field(default=7 * 24 * 3600, gt=0)
    dlq_ttl_days: int = Field(default=30, gt=0, le=3650)
    dlq_max_bytes: int = Field(default=1024 * 1024 * 1024, ge=1024 * 1024)
    worker_concurrency: int = Field(default=10, gt=0, le=MAX_CONCURRENCY)
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    admin_token: SecretStr | None = None

    @field_validator("webhook_tokens", "webhook_basic", "webhook_secrets", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split(value)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(
                "must be a Redis URL: redis://[:PASSWORD@]HOST:6379/0, rediss://… for TLS, "
                "or unix:///path/to/redis.sock"
            )
        try:
            port = parts.port
        except ValueError:
            raise ValueError("has a port that is not a number from 1 to 65535") from None
        if parts.scheme != "unix" and not parts.hostname:
            raise ValueError("names no host, e.g. redis://redis:6379/0")
        if port == 0:
            raise ValueError("has a port that is not a number from 1 to 65535")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("webhook_tokens")
    @classmethod
    def _long_tokens(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for index, token in enumerate(value, start=1):
            if len(token.get_secret_value()) < MIN_TOKEN_CHARS:
                raise ValueError(
                    f"item {index} is shorter than {MIN_TOKEN_CHARS} characters (16 random "
                    "bytes); generate one with: python3 -c 'import secrets; "
                    "print(secrets.token_urlsafe(24))'"
                )
        return value

    @field_validator("webhook_basic")
    @classmethod
    def _basic_pairs(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for index, pair in enumerate(value, start=1):
            user, sep, password = pair.get_secret_value().partition(":")
            if not sep or not user or not password:
                raise ValueError(f"item {index} is not of the form user:password")
        return value

    @field_validator("webhook_secrets")
    @classmethod
    def _webhook_secrets(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for index, secret in enumerate(value, start=1):
            try:
                decode_webhook_secret(secret.get_secret_value())
            except ValueError as exc:
                raise ValueError(f"item {index}: {exc}") from None
        return value


def decode_webhook_secret(secret: str) -> bytes:
    """Return the HMAC key of a Standard Webhooks secret `whsec_<base64>`."""
    if not secret.startswith(WEBHOOK_SECRET_PREFIX):
        raise ValueError(f"a webhook secret must start with '{WEBHOOK_SECRET_PREFIX}'")
    try:
        key = base64.b64decode(secret.removeprefix(WEBHOOK_SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise ValueError("the part after 'whsec_' is not valid base64") from None
    if len(key) < 16:
        raise ValueError("the key is shorter than 16 bytes; generate a longer one")
    return key


def _register_secrets(settings: Settings) -> None:
    """Every credential in the settings is masked wherever the router writes text."""
    listed = (*settings.webhook_tokens, *settings.webhook_basic, *settings.webhook_secrets)
    values: list[str | None] = [s.get_secret_value() for s in listed]
    # A Basic password on its own, too: it travels apart from its user name.
    values += [pair.get_secret_value().partition(":")[2] for pair in settings.webhook_basic]
    if settings.admin_token:
        values.append(settings.admin_token.get_secret_value())
    if settings.redis_url:
        values.append(urlsplit(settings.redis_url).password)
    redact.register(values)


def load_settings() -> Settings:
    """Read the environment; on a bad value raise SettingsError naming every offending variable."""
    try:
        settings = Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_input=False, include_url=False):
            field = str(error["loc"][0]) if error["loc"] else "?"
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"{ENV_PREFIX}{field.upper()}: {message}")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None
    _register_secrets(settings)
    return settings
