"""Single sign-on to the console with OpenID Connect: the authorization code flow with PKCE
(S256), `state` and `nonce`, and the ID token checked — its signature against the provider's
published keys (JWKS), its issuer, audience, expiry and nonce — before a session is made. The
role comes from a claim (ROUTER_OIDC_ROLES_CLAIM, `groups` by default) mapped by
ROUTER_OIDC_ROLE_MAP (`kuflow-admins=admin,kuflow-ops=operator,*=viewer`): the highest role any of
the person's groups maps to; no mapped group (and no `*`), no session.

A sign-on's state lives in Redis for ten minutes and is taken once (a replayed return finds
nothing), and in a short cookie of the browser that began it (a return in another browser is
refused). Authlib makes the PKCE challenge and checks the claims; joserfc (its JOSE library)
checks the signature.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from redis.asyncio import Redis

from console.access import ROLES, Person
from store import sessions

STATE_S = 600  # a sign-on must come back within this
LEEWAY_S = 60  # clocks of the provider and this machine may differ by this much


class Refused(Exception):
    """A sign-on that makes no session, and why (shown to the person, audited)."""


def role_map(text: str) -> list[tuple[str, str]]:
    """`group=role,…` (`*` for anyone the provider vouches for) as pairs, in order.

    Raises:
        ValueError: an item is not `group=role`, or the role is unknown.
    """
    pairs = []
    for item in (i.strip() for i in text.split(",") if i.strip()):
        group, _, role = item.partition("=")
        if not group.strip() or role.strip() not in ROLES:
            raise ValueError(f"'{item}': write group=role, the role one of {', '.join(ROLES)} "
                             "(e.g. kuflow-admins=admin,kuflow-ops=operator,*=viewer)")  # fmt: skip
        pairs.append((group.strip(), role.strip()))
    return pairs


def role_of(claims: Mapping[str, Any], claim: str, mapping: Sequence[tuple[str, str]]) -> str:
    """The highest role the person's groups (the claim `claim`, a list or a word) map to; ''
    when none does."""
    given = claims.get(claim)
    groups = {given} if isinstance(given, str) else set(given or ())
    roles = [role for group, role in mapping if group == "*" or group in groups]
    return max(roles, key=ROLES.index) if roles else ""


@dataclass(frozen=True)
class Provider:
    """Where the console signs people in, and how it maps them."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str  # ROUTER_CONSOLE_URL + /login/sso/callback
    roles_claim: str = "groups"
    mapping: Sequence[tuple[str, str]] = ()
    scopes: str = "openid email profile"  # ROUTER_OIDC_SCOPES: add `groups` if yours needs it


@dataclass
class SignOn:
    """The console's side of single sign-on with one provider."""

    provider: Provider
    redis: Redis
    timeout_s: float = 10.0
    _metadata: dict[str, Any] = field(default_factory=dict)

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (read once)."""
        if not self._metadata:
            url = self.provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
            found = await self._get(url)
            if found.get("issuer") != self.provider.issuer:
                raise Refused(f"the provider says its issuer is {found.get('issuer')}, not "
                              f"ROUTER_OIDC_ISSUER ({self.provider.issuer})")  # fmt: skip
            self._metadata = found
        return self._metadata

    async def _get(self, url: str) -> dict[str, Any]:
        """A JSON document of the provider's.

        Raises:
            Refused: it did not answer, or not with JSON.
        """
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as http:
                answer = await http.get(url)
                answer.raise_for_status()
                found: dict[str, Any] = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Refused(f"the identity provider did not answer {url}: {exc}") from None
        return found

    async def begin(self, next_path: str) -> tuple[str, str]:
        """Where to send the browser to sign in, and the sign-on's `state` (for its cookie)."""
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        metadata = await self.metadata()
        p = self.provider
        url = add_params_to_uri(metadata["authorization_endpoint"], [
            ("response_type", "code"), ("client_id", p.client_id),
            ("redirect_uri", p.redirect_uri), ("scope", p.scopes), ("state", state),
            ("nonce", nonce), ("code_challenge", create_s256_code_challenge(verifier)),
            ("code_challenge_method", "S256")])  # fmt: skip
        kept = json.dumps({"nonce": nonce, "verifier": verifier, "next": next_path})
        await sessions.begin_sso(self.redis, state, kept, STATE_S)
        return url, state

    async def finish(self, state: str, code: str, browser_state: str) -> tuple[Person, str]:
        """The person a provider's return (`state`, `code`) signs in, and the page they wanted.

        Raises:
            Refused: a state unknown, used already or of another browser; a code the provider
                does not exchange; an ID token that fails a check; no role for the person.
        """
        if not state or not secrets.compare_digest(state, browser_state or ""):
            raise Refused("this sign-on was not begun in this browser (or its cookie expired)")
        kept = await sessions.take_sso(self.redis, state)
        if kept is None:
            raise Refused("this sign-on's state is unknown or was used already: sign in again")
        begun = json.loads(kept)
        metadata = await self.metadata()
        p = self.provider
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": p.redirect_uri,
                "code_verifier": begun["verifier"]}  # fmt: skip
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as http:
                answer = await http.post(metadata["token_endpoint"], data=form,
                                         auth=(p.client_id, p.client_secret))  # fmt: skip
        except httpx.HTTPError as exc:
            raise Refused(f"the identity provider did not answer: {exc}") from None
        try:
            token = answer.json()
        except ValueError:
            token = {}
        if answer.status_code != 200 or not isinstance(token, dict):
            said = str(token.get("error", "")) if isinstance(token, dict) else ""
            raise Refused(f"the provider did not exchange the code ({answer.status_code}"
                          f"{': ' + said[:60] if said else ''})")  # fmt: skip
        claims = await self.check(token.get("id_token", ""), begun["nonce"],
                                  token.get("access_token", ""))  # fmt: skip
        role = role_of(claims, self.provider.roles_claim, self.provider.mapping)
        name = str(claims.get("email") or claims.get("preferred_username") or claims["sub"])
        if not role:
            raise Refused(f"{name} is in no group ROUTER_OIDC_ROLE_MAP gives a role "
                          f"(its {self.provider.roles_claim}: "
                          f"{claims.get(self.provider.roles_claim) or 'none'})")  # fmt: skip
        return Person(name, role), str(begun.get("next") or "/")

    async def check(
        self, id_token: str, nonce: str, access_token: str = "", now: float | None = None
    ) -> dict[str, Any]:
        """The claims of an ID token whose signature (by the provider's JWKS), issuer, audience
        (this client), expiry and nonce hold at `now`.

        Raises:
            Refused: saying which check failed.
        """
        if not id_token:
            raise Refused("the provider sent no ID token")
        metadata = await self.metadata()
        keys = await self._get(metadata["jwks_uri"])
        algorithms = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        try:
            decoded = jwt.decode(id_token, KeySet.import_key_set(keys),  # type: ignore[arg-type]
                                 registry=JWSRegistry(algorithms=algorithms))  # fmt: skip
        except (JoseError, ValueError) as exc:
            raise Refused(f"the ID token's signature does not hold: {exc}") from None
        options = {"iss": {"essential": True, "values": [self.provider.issuer]},
                   "aud": {"essential": True, "values": [self.provider.client_id]}}  # fmt: skip
        params = {"nonce": nonce, "client_id": self.provider.client_id}
        if access_token:
            params["access_token"] = access_token
        claims = CodeIDToken(decoded.claims, decoded.header, options, params)
        try:
            claims.validate(now=int(now if now is not None else time.time()), leeway=LEEWAY_S)
        except Exception as exc:  # Authlib's claim errors say which claim
            raise Refused(f"the ID token was refused: {exc}") from None
        return dict(claims)
