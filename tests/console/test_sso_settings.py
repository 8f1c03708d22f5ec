"""Single sign-on's settings and role mapping, without a provider (tests/sso has the real one)."""

from __future__ import annotations

import pytest

from common.errors import SettingsError
from common.settings import load
from console.settings import ConsoleSettings
from console.sso import role_map, role_of

MAP = role_map("kuflow-admins=admin,kuflow-ops=operator,*=viewer")


@pytest.mark.parametrize(
    ("groups", "role"),
    [(["kuflow-ops", "kuflow-admins"], "admin"), (["kuflow-ops"], "operator"), ([], "viewer"),
     ("kuflow-ops", "operator"), (None, "viewer")],
)  # fmt: skip
def test_the_highest_role_of_the_groups_wins_and_star_is_anyone(groups: object, role: str) -> None:
    assert role_of({"groups": groups}, "groups", MAP) == role


def test_without_star_a_person_in_no_mapped_group_has_no_role() -> None:
    assert role_of({"groups": ["staff"]}, "groups", role_map("kuflow-ops=operator")) == ""


def test_a_role_map_of_an_unknown_role_is_told() -> None:
    with pytest.raises(ValueError, match="write group=role, the role one of viewer"):
        role_map("kuflow-ops=boss")


def test_an_issuer_alone_says_what_else_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_OIDC_ISSUER", "https://id.example.com")
    monkeypatch.setenv("ROUTER_OIDC_CLIENT_SECRET", "a-client-secret-of-some-length")
    with pytest.raises(SettingsError) as raised:
        load(ConsoleSettings)
    said = str(raised.value)
    assert "ROUTER_OIDC_CLIENT_ID" in said and "ROUTER_OIDC_ROLE_MAP" in said
    assert "ROUTER_CONSOLE_URL" in said and "a-client-secret" not in said
    monkeypatch.setenv("ROUTER_OIDC_CLIENT_ID", "router")
    monkeypatch.setenv("ROUTER_OIDC_ROLE_MAP", "*=viewer")
    monkeypatch.setenv("ROUTER_CONSOLE_URL", "https://router.example.com/")
    provider = load(ConsoleSettings).provider()
    assert provider is not None
    assert provider.redirect_uri == "https://router.example.com/login/sso/callback"
    assert provider.mapping == [("*", "viewer")]
