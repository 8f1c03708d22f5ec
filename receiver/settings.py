"""The receiver's settings: ROUTER_* variables of webhook authentication and request limits."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from common.settings import AdminToken, CommonSettings, check_token, load, placeholder

WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
SecretList = Annotated[tuple[SecretStr, ...], NoDecode]


def _split(value: object) -> object:
    """Split a comma-separated variable into its non-empty, stripped items."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


class ReceiverSettings(CommonSettings):
    """The receiver's variables: how webhooks authenticate, and the limits of a request."""

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
    admin_token: AdminToken = None

    @field_validator("webhook_tokens", "webhook_basic", "webhook_secrets", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split(value)

    @field_validator("webhook_tokens")
    @classmethod
    def _long_tokens(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for index, token in enumerate(value, start=1):
            try:
                check_token(token.get_secret_value())
            except ValueError as exc:
                raise ValueError(f"item {index} {exc}") from None
        return value

    @field_validator("webhook_basic")
    @classmethod
    def _basic_pairs(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for index, pair in enumerate(value, start=1):
            user, sep, password = pair.get_secret_value().partition(":")
            if not sep or not user or not password:
                raise ValueError(f"item {index} is not of the form user:password")
            why = placeholder(password)
            if why:
                raise ValueError(f"item {index}'s password is {why}")
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

    def secrets(self) -> list[str | None]:
        listed = (*self.webhook_tokens, *self.webhook_basic, *self.webhook_secrets)
        values: list[str | None] = [s.get_secret_value() for s in listed]
        # A Basic password on its own, too: it travels apart from its user name.
        values += [pair.get_secret_value().partition(":")[2] for pair in self.webhook_basic]
        if self.admin_token:
            values.append(self.admin_token.get_secret_value())
        return [*super().secrets(), *values]


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


def load_settings() -> ReceiverSettings:
    """The receiver's settings from the environment.

    Raises:
        SettingsError: naming every offending variable.
    """
    return load(ReceiverSettings)
