"""Who may use the console: a signed session cookie after a login with the admin token, and a
CSRF token on every state-changing request.

The session cookie is `{expiry}.{nonce}.{signature}`, HMAC-SHA256 under a key derived from
ROUTER_ADMIN_TOKEN, HttpOnly and SameSite=Strict: changing the token logs everyone out. Every
POST carries `csrf`, the HMAC of the session's nonce. All comparisons are constant-time; the token
itself is never put in a page, a log or a URL. Without an admin token (allowed on loopback only)
a session is handed to whoever opens the console, and the CSRF check still applies.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

COOKIE = "kuflow_router_console"
SESSION_S = 8 * 3600


@dataclass(frozen=True)
class Login:
    """A valid login (its session): when it ends, and the nonce its CSRF token is derived from."""

    expires: int
    nonce: str


class Access:
    """Signs and checks sessions and CSRF tokens for one console process."""

    def __init__(self, admin_token: str | None) -> None:
        self.open = admin_token is None  # loopback without a token: no login
        secret = admin_token.encode() if admin_token else secrets.token_bytes(32)
        self._token = admin_token
        self._key = hmac.new(secret, b"kuflow-router console session", hashlib.sha256).digest()

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def login(self, given: str) -> bool:
        """Whether `given` is the admin token (always true in open mode)."""
        if self._token is None:
            return True
        return hmac.compare_digest(given.encode(), self._token.encode())

    def new_session(self, now: float | None = None) -> str:
        """A fresh session cookie value."""
        expires = int((now if now is not None else time.time()) + SESSION_S)
        body = f"{expires}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._sign(body)}"

    def session(self, cookie: str | None, now: float | None = None) -> Login | None:
        """The session a cookie proves, or None (missing, forged or expired)."""
        if not cookie or cookie.count(".") != 2:
            return None
        expires, nonce, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(f"{expires}.{nonce}")):
            return None
        if not expires.isdigit() or int(expires) < (now if now is not None else time.time()):
            return None
        return Login(int(expires), nonce)

    def csrf(self, session: Login) -> str:
        """The CSRF token of a session, for its forms."""
        return self._sign(f"csrf.{session.nonce}")

    def csrf_ok(self, session: Login, given: str) -> bool:
        return hmac.compare_digest(given, self.csrf(session))
