"""Who may use the console, and as what: a signed session cookie after a login with a token,
a role with each session, and a CSRF token on every state-changing request.

Tokens: ROUTER_ADMIN_TOKEN is the role `admin` under the name `admin`; ROUTER_CONSOLE_TOKENS
names more (`ops-lead:operator:<token>,support-desk:viewer:<token>`). Roles, each with what the
one before may do: `viewer` (every page, *try it*, *what would change*), `operator` (+ replay,
skip, purge, pause and resume, cancel a timer, a failure's state), `admin` (+ the audit log's
export). The server checks the role of every route (console/app.py); a page's buttons are no
guard.

The session cookie is `{expiry}.{nonce}.{name}.{role}.{signature}` (the name in URL-safe base64),
HMAC-SHA256 under a key derived from every token (and the sign-on client's secret,
console/sso.py): changing any of them logs everyone out. Every
POST carries `csrf`, the HMAC of the session's nonce. All comparisons are constant-time; a token
is never put in a page, a log or a URL. Without any token (allowed on loopback only) a session is
handed to whoever opens the console — `local`, an admin — and the CSRF check still applies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

COOKIE = "kuflow_router_console"
SESSION_S = 8 * 3600
VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
ROLES = (VIEWER, OPERATOR, ADMIN)  # each may do what the ones before it may


def allows(role: str, needed: str) -> bool:
    """Whether `role` may do what `needed` may."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True)
class Person:
    """Whom a token (or, later, a sign-in) stands for: a name and a role."""

    name: str
    role: str


LOCAL = Person("local", ADMIN)  # whoever opens a console that has no login (loopback only)


@dataclass(frozen=True)
class Login:
    """A valid login (its session): when it ends, the nonce its CSRF token is derived from, and
    who it is."""

    expires: int
    nonce: str
    name: str = "local"
    role: str = ADMIN


class Access:
    """Signs and checks sessions and CSRF tokens for one console process."""

    def __init__(self, tokens: Sequence[tuple[Person, str]], sso_secret: str = "") -> None:
        self.open = not tokens and not sso_secret  # loopback without a token: no login
        self.has_tokens = bool(tokens)
        self._tokens = [(person, token.encode()) for person, token in tokens]
        # Sessions are signed under every token and the sign-on client's secret: any change
        # logs everyone out, and consoles with the same settings accept each other's sessions.
        known = [t for _, t in self._tokens] + ([sso_secret.encode()] if sso_secret else [])
        secret = b"\0".join(known) if known else secrets.token_bytes(32)
        self._key = hmac.new(secret, b"kuflow-router console session", hashlib.sha256).digest()

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def login(self, given: str) -> Person | None:
        """Whom `given` is the token of, or None; every token is compared, in constant time."""
        if self.open:
            return LOCAL
        found = None
        for person, token in self._tokens:
            if hmac.compare_digest(given.encode(), token):
                found = person
        return found

    def new_session(self, person: Person, now: float | None = None) -> str:
        """A fresh session cookie value for `person`."""
        expires = int((now if now is not None else time.time()) + SESSION_S)
        name = base64.urlsafe_b64encode(person.name.encode()).decode().rstrip("=")
        body = f"{expires}.{secrets.token_urlsafe(16)}.{name}.{person.role}"
        return f"{body}.{self._sign(body)}"

    def session(self, cookie: str | None, now: float | None = None) -> Login | None:
        """The session a cookie proves, or None (missing, forged or expired)."""
        if not cookie or cookie.count(".") != 4:
            return None
        body, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        expires, nonce, name, role = body.split(".")
        if not expires.isdigit() or int(expires) < (now if now is not None else time.time()):
            return None
        try:
            who = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return Login(int(expires), nonce, who, role) if role in ROLES else None

    def csrf(self, session: Login) -> str:
        """The CSRF token of a session, for its forms."""
        return self._sign(f"csrf.{session.nonce}")

    def csrf_ok(self, session: Login, given: str) -> bool:
        return hmac.compare_digest(given, self.csrf(session))
