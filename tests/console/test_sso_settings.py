"""Single sign-on's settings and role mapping, without a provider (tests/sso has the real one)."""

from __future__ import annotations

from typing import Any

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


@pytest.mark.anyio
async def test_an_unreachable_provider_is_said_plainly_and_audited(
    redis_url: str, tmp_path: Any
) -> None:
    from redis.asyncio import Redis

    from console.app import create_console
    from console.sso import Provider
    from handlers.rules.reload import LiveRules
    from kuflow_router.redis_server import free_port
    from store import audit
    from tests.conftest import serve_app

    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nrules: []\n")
    gone = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    provider = Provider(gone, "router", "a-client-secret-of-some-length",
                        "https://router.example.com/login/sso/callback", mapping=MAP)  # fmt: skip
    async with Redis.from_url(redis_url) as redis:
        app = create_console(redis, LiveRules(rules), None, 3600, provider=provider)
        async with serve_app(app) as client:
            login = await client.get("/login")
            answer = await client.get("/login/sso")
        (entry,) = await audit.entries(redis)
    assert "Sign in with single sign-on" in login.text and 'name="token"' not in login.text
    assert answer.status_code == 503
    assert "Single sign-on is unavailable: the identity provider did not answer" in answer.text
    assert (entry.action, entry.outcome[:7], entry.detail["via"]) == ("login", "failed:", "sso")


@pytest.mark.anyio
async def test_a_provider_error_shows_its_code_only(redis_url: str, tmp_path: Any) -> None:
    from redis.asyncio import Redis

    from console.app import create_console
    from console.sso import Provider
    from handlers.rules.reload import LiveRules
    from tests.conftest import serve_app

    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nrules: []\n")
    provider = Provider("https://id.example.com", "router", "a-client-secret-of-some-length",
                        "https://router.example.com/login/sso/callback", mapping=MAP)  # fmt: skip
    async with Redis.from_url(redis_url) as redis:
        app = create_console(redis, LiveRules(rules), None, 3600, provider=provider)
        async with serve_app(app) as client:
            denied = await client.get("/login/sso/callback?error=access_denied"
                                      "&error_description=Call+0800+to+unlock")  # fmt: skip
            forged = await client.get("/login/sso/callback?error=Your+account+is+locked")
    assert denied.status_code == 403 and "the provider answered access_denied" in denied.text
    assert "0800" not in denied.text
    assert "the provider answered an error" in forged.text and "locked" not in forged.text


@pytest.mark.anyio
async def test_sign_ons_started_and_refused_are_limited_per_address(
    redis_url: str, tmp_path: Any
) -> None:
    """Each start keeps a state in Redis and each refusal writes an audit entry: an address that
    floods either is answered 429, and past the limit nothing more is written."""
    from redis.asyncio import Redis

    from console.app import create_console
    from console.sso import Provider
    from handlers.rules.reload import LiveRules
    from kuflow_router.redis_server import free_port
    from store import audit
    from tests.conftest import serve_app

    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nrules: []\n")
    gone = f"http://127.0.0.1:{free_port()}"
    provider = Provider(gone, "router", "a-client-secret-of-some-length",
                        "https://router.example.com/login/sso/callback", mapping=MAP)  # fmt: skip
    async with Redis.from_url(redis_url) as redis:
        app = create_console(redis, LiveRules(rules), None, 3600, provider=provider)
        async with serve_app(app) as client:
            returns = [(await client.get("/login/sso/callback?state=x&code=y")).status_code
                       for _ in range(12)]  # fmt: skip
            starts = [(await client.get("/login/sso")).status_code for _ in range(31)]
        logged = await audit.entries(redis, 500)
    assert returns == [403] * 10 + [429] * 2
    assert starts[:30] == [503] * 30 and starts[30] == 429  # the provider is down: 503 each
    assert len([e for e in logged if "not begun in this browser" in e.outcome]) == 10
