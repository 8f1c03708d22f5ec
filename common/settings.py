"""Typed settings from ROUTER_* environment variables: the part every process reads.

Configuration is environment only (SPEC §7). Each role adds its own variables to this base —
`receiver.settings.ReceiverSettings`, `handlers.worker.settings.WorkerSettings`; `run`, which
is both, reads `kuflow_router.settings.RouterSettings`. A bad value stops the process at start
with a message naming the variable — and never echoing its value, which may be a secret.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, TypeVar
from urllib.parse import unquote, urlsplit

from pydantic import AfterValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common import redact
from common import redis_url as urls
from common.errors import SettingsError

ENV_PREFIX = "ROUTER_"
MIN_TOKEN_CHARS = 22  # 16 random bytes in URL-safe base64, as secrets.token_urlsafe(16) gives
MAKE_ONE = "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"
# What a value still copied from an example looks like: never a credential.
_PLACEHOLDER = re.compile(
    r"replace[-_ ]?me|change[-_ ]?me|your[-_ ]|placeholder|^<[^>]*>$|^(.)\1{3,}$", re.IGNORECASE
)


def placeholder(value: str) -> str | None:
    """Why `value` reads as an example's placeholder rather than a credential, or None."""
    if _PLACEHOLDER.search(value) is None:
        return None
    return (
        "a placeholder copied from an example (replace-me, changeme, <…>, one character "
        "repeated), not a credential: put a real value"
    )


def check_token(value: str) -> str:
    """A token of the router's own (webhook, admin): long enough, and not a placeholder.

    Raises:
        ValueError: saying how to make a good one.
    """
    why = placeholder(value)
    if why:
        raise ValueError(f"is {why}; {MAKE_ONE}")
    if len(value) < MIN_TOKEN_CHARS:
        raise ValueError(
            f"is shorter than {MIN_TOKEN_CHARS} characters (16 random bytes); {MAKE_ONE}"
        )
    return value


def _admin_token(value: SecretStr | None) -> SecretStr | None:
    if value is not None:
        check_token(value.get_secret_value())
    return value


# ROUTER_ADMIN_TOKEN, as the console, the receiver's /metrics and a worker's read it.
AdminToken = Annotated[SecretStr | None, AfterValidator(_admin_token)]


class CommonSettings(BaseSettings):
    """The variables of every role: where Redis is, how long event records live, logging."""

    # An empty variable (as in a copied .env.example) means "use the default".
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, env_ignore_empty=True
    )

    redis_url: str | None = None
    # Replicas that must have a write before it counts (Redis's WAIT): the receiver's enqueue
    # before its 202, the worker's start of a run before any action is sent.
    redis_min_replicas: int = Field(default=0, ge=0, le=16)
    redis_replica_timeout_ms: int = Field(default=500, gt=0, le=60_000)
    event_ttl_s: int = Field(default=7 * 24 * 3600, gt=0)
    # process: the events of one KuFlow process run one at a time, in the order accepted.
    ordering: Literal["process", "none"] = "process"
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # A page of the tracing backend for one trace, `{trace_id}` in it (Jaeger, Tempo …): the
    # console and `events show` link each event's trace.
    trace_url: str = ""
    # The audit log (store/audit.py): kept this long, and at most this many entries.
    audit_retention_days: int = Field(default=400, ge=1, le=3650)
    audit_max_entries: int = Field(default=1_000_000, ge=1000)

    @field_validator("trace_url")
    @classmethod
    def _trace_url(cls, value: str) -> str:
        if value and (not value.startswith(("http://", "https://")) or "{trace_id}" not in value):
            raise ValueError(
                "must be an http(s) URL with {trace_id} in it, e.g. "
                "http://jaeger.example:16686/trace/{trace_id}"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if urls.is_sentinel(value):
            urls.parse_sentinel(value)
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(
                "must be a Redis URL: redis://[:PASSWORD@]HOST:6379/0, rediss://… for TLS, "
                "unix:///path/to/redis.sock, or redis+sentinel://HOST:26379[,HOST:26379]/SERVICE/0"
            )
        try:
            port = parts.port
        except ValueError:
            raise ValueError("has a port that is not a number from 1 to 65535") from None
        if parts.scheme != "unix" and not parts.hostname:
            raise ValueError("names no host, e.g. redis://redis:6379/0")
        if port == 0:
            raise ValueError("has a port that is not a number from 1 to 65535")
        why = placeholder(unquote(parts.password or ""))
        if why:
            raise ValueError(f"has a password that is {why}")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def secrets(self) -> list[str | None]:
        """The credentials among these settings, to be masked wherever the router writes text."""
        return urls.secrets(self.redis_url) if self.redis_url else []


Settings = TypeVar("Settings", bound=CommonSettings)


def load(model: type[Settings]) -> Settings:
    """Read `model`'s variables from the environment and register its secrets for masking.

    Raises:
        SettingsError: naming every offending variable (never its value).
    """
    try:
        settings = model()
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_input=False, include_url=False):
            field = str(error["loc"][0]) if error["loc"] else "?"
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"{ENV_PREFIX}{field.upper()}: {message}")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None
    redact.register(settings.secrets())
    return settings
