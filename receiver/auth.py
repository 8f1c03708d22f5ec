"""Webhook authentication: token in the path, HTTP Basic, and Standard Webhooks HMAC signatures.

Any combination of modes may be enabled; a request passes if it satisfies any one of them.
Token and Basic are decided from the request line and headers alone, so a request without any
configured credential is refused before its body is read. HMAC needs the raw body bytes and is
checked once they are in. Every comparison is constant-time, and every candidate is compared
(no early exit) so timing does not reveal which secret of a rotation list matched.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from common.errors import SettingsError
from receiver.errors import Unauthorized
from receiver.settings import ReceiverSettings, decode_webhook_secret

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SIGNATURE_VERSION = "v1"


class Verdict(enum.Enum):
    """What the headers alone say about a request."""

    ACCEPTED = "accepted"  # a token or Basic credential matched, or auth is off (dev mode)
    NEEDS_SIGNATURE = "needs_signature"  # only an HMAC signature can still accept it


@dataclass(frozen=True)
class AuthConfig:
    """The enabled modes with their credentials, ready for comparison."""

    tokens: tuple[bytes, ...] = ()
    basic: tuple[bytes, ...] = ()  # each "user:password", as sent inside the Basic header
    keys: tuple[bytes, ...] = ()  # decoded HMAC keys
    tolerance_s: int = 300

    @property
    def modes(self) -> list[str]:
        """Names of the enabled modes, for the start-up log."""
        names = {"token": self.tokens, "basic": self.basic, "hmac": self.keys}
        return [name for name, creds in names.items() if creds]

    @classmethod
    def from_settings(cls, settings: ReceiverSettings) -> AuthConfig:
        """Build the config; refuse when no mode is enabled and insecure dev mode is off."""
        secrets = settings.webhook_secrets
        config = cls(
            tokens=tuple(t.get_secret_value().encode() for t in settings.webhook_tokens),
            basic=tuple(b.get_secret_value().encode() for b in settings.webhook_basic),
            keys=tuple(decode_webhook_secret(x.get_secret_value()) for x in secrets),
            tolerance_s=settings.signature_tolerance_s,
        )
        if not config.modes and not settings.insecure_no_auth:
            raise SettingsError(
                "no webhook authentication is configured, so the receiver refuses to start. "
                "Set at least one of ROUTER_WEBHOOK_TOKENS (a token KuFlow puts at the end of the "
                "URL), ROUTER_WEBHOOK_BASIC (user:password pairs) or ROUTER_WEBHOOK_SECRETS "
                "(whsec_ HMAC secrets); for a local trial only, ROUTER_INSECURE_NO_AUTH=true."
            )
        return config


def _matches_any(candidate: bytes, expected: Iterable[bytes]) -> bool:
    found = False
    for item in expected:
        found |= hmac.compare_digest(candidate, item)
    return found


def _basic_credential(authorization: str | None) -> bytes | None:
    if not authorization:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def check_headers(
    config: AuthConfig, path_token: str | None, headers: Mapping[str, str], now: float
) -> Verdict:
    """Decide what can be decided before the body is read.

    Raises:
        Unauthorized: no enabled mode can accept this request.
    """
    if not config.modes:
        return Verdict.ACCEPTED
    token = path_token.encode() if path_token is not None else None
    if token is not None and config.tokens and _matches_any(token, config.tokens):
        return Verdict.ACCEPTED
    if config.basic:
        credential = _basic_credential(headers.get("authorization"))
        if credential is not None and _matches_any(credential, config.basic):
            return Verdict.ACCEPTED
    if config.keys and SIGNATURE_HEADER in headers:
        _check_timestamp(config, headers.get(TIMESTAMP_HEADER), now)
        if not headers.get(ID_HEADER):
            raise Unauthorized()
        return Verdict.NEEDS_SIGNATURE
    raise Unauthorized()


def _check_timestamp(config: AuthConfig, value: str | None, now: float) -> None:
    try:
        timestamp = int(value or "")
    except ValueError:
        raise Unauthorized() from None
    if abs(now - timestamp) > config.tolerance_s:
        raise Unauthorized()


def check_signature(config: AuthConfig, headers: Mapping[str, str], body: bytes) -> None:
    """Verify a Standard Webhooks signature over the raw body.

    Raises:
        Unauthorized: no `v1` signature in the header matches any configured secret.
    """
    msg_id = headers.get(ID_HEADER, "")
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    expected = [signature(key, msg_id, timestamp, body) for key in config.keys]
    found = False
    for item in headers.get(SIGNATURE_HEADER, "").split():
        version, _, value = item.partition(",")
        if version == SIGNATURE_VERSION:
            found |= _matches_any(value.encode(), (e.encode() for e in expected))
    if not found:
        raise Unauthorized()


def signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    """The base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`, as Standard Webhooks defines it."""
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def sign_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Headers a Standard Webhooks sender attaches: used by `kuflow-router send` and the tests."""
    key = decode_webhook_secret(secret)
    value = signature(key, msg_id, str(timestamp), body)
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SIGNATURE_VERSION},{value}",
    }
