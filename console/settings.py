"""The console's settings: ROUTER_* variables of its port, who may log in (and as what) and the
rules."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import NoDecode

from common.settings import AdminToken, CommonSettings, check_token, load
from console.access import ADMIN, ROLES, Person
from console.sso import Provider, role_map

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
NamedTokens = Annotated[tuple[SecretStr, ...], NoDecode]


def _named(item: str, index: int) -> tuple[Person, str]:
    """`name:role:token` → (the person, the token); the error never quotes the token."""
    name, _, rest = item.partition(":")
    role, _, token = rest.partition(":")
    where = f"item {index}"
    if not NAME.fullmatch(name.strip()):
        raise ValueError(f"{where}: write name:role:token, the name of letters, digits and . _ @ "
                         "+ - (up to 64)")  # fmt: skip
    if role.strip() not in ROLES:
        raise ValueError(f"{where} ({name}): the role must be one of {', '.join(ROLES)}")
    try:
        check_token(token.strip())
    except ValueError as exc:
        raise ValueError(f"{where} ({name}): its token {exc}") from None
    return Person(name.strip(), role.strip()), token.strip()


class ConsoleSettings(CommonSettings):
    """The console's variables."""

    console_port: int = Field(default=8001, ge=1, le=65535)
    admin_token: AdminToken = None
    # ROUTER_CONSOLE_TOKENS: `name:role:token`, comma-separated (roles: viewer, operator, admin).
    console_tokens: NamedTokens = ()
    rules_file: Path = Path("rules.yaml")
    console_url: str = ""  # where operators reach the console; https:// makes its cookie Secure
    # Single sign-on (console/sso.py): the OpenID provider, this console's client there, and how
    # the person's groups map to roles.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr | None = None
    oidc_roles_claim: str = "groups"
    oidc_role_map: str = ""
    oidc_scopes: str = "openid email profile"

    @field_validator("oidc_role_map")
    @classmethod
    def _oidc_role_map(cls, value: str) -> str:
        role_map(value)  # raises, saying what to write
        return value

    @model_validator(mode="after")
    def _oidc_complete(self) -> ConsoleSettings:
        if not self.oidc_issuer:
            return self
        needed = {"ROUTER_OIDC_CLIENT_ID": self.oidc_client_id,
                  "ROUTER_OIDC_CLIENT_SECRET": self.oidc_client_secret,
                  "ROUTER_OIDC_ROLE_MAP": self.oidc_role_map,
                  "ROUTER_CONSOLE_URL (sign-ins come back to it)": self.console_url}  # fmt: skip
        missing = [name for name, value in needed.items() if not value]
        if missing:
            raise ValueError(f"ROUTER_OIDC_ISSUER is set: set {', '.join(missing)} too")
        return self

    def provider(self) -> Provider | None:
        """The OpenID provider the console signs people in with, if one is set."""
        if not self.oidc_issuer or self.oidc_client_secret is None:
            return None
        return Provider(self.oidc_issuer, self.oidc_client_id,
                        self.oidc_client_secret.get_secret_value(),
                        self.console_url.rstrip("/") + "/login/sso/callback",
                        self.oidc_roles_claim, role_map(self.oidc_role_map),
                        self.oidc_scopes)  # fmt: skip

    # Named apart from the receiver's own splitter: `RouterSettings` inherits both.
    @field_validator("console_tokens", mode="before")
    @classmethod
    def _split_console_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(SecretStr(i.strip()) for i in value.split(",") if i.strip())
        return value

    @field_validator("console_tokens")
    @classmethod
    def _console_people_apart(
        cls, value: tuple[SecretStr, ...], info: ValidationInfo
    ) -> tuple[SecretStr, ...]:
        names = {ADMIN} if info.data.get("admin_token") else set()
        tokens: set[str] = set()
        for index, item in enumerate(value, start=1):
            person, token = _named(item.get_secret_value(), index)
            if person.name in names:
                admin = " (admin is ROUTER_ADMIN_TOKEN's)" if person.name == ADMIN else ""
                raise ValueError(f"the name {person.name} is given twice{admin}")
            if token in tokens:
                raise ValueError(f"{person.name}'s token is another's too: give each person a "
                                 "token of their own")  # fmt: skip
            names.add(person.name)
            tokens.add(token)
        return value

    def people(self) -> list[tuple[Person, str]]:
        """Everyone who may log in with a token: (whom it names, the token). ROUTER_ADMIN_TOKEN
        is `admin`, an admin."""
        found = [_named(t.get_secret_value(), n) for n, t in enumerate(self.console_tokens, 1)]
        if self.admin_token:
            found.insert(0, (Person(ADMIN, ADMIN), self.admin_token.get_secret_value()))
        return found

    def secrets(self) -> list[str | None]:
        token = self.admin_token.get_secret_value() if self.admin_token else None
        named = [t.get_secret_value().rpartition(":")[2] for t in self.console_tokens]
        client = self.oidc_client_secret.get_secret_value() if self.oidc_client_secret else None
        return [*super().secrets(), token, *named, client]


def load_settings() -> ConsoleSettings:
    """The console's settings from the environment.

    Raises:
        SettingsError: naming every offending variable.
    """
    return load(ConsoleSettings)
