"""Who may use the console: login with the admin token, a signed session, CSRF on every change;
each refusal changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from common.errors import SettingsError
from console.access import ADMIN as ADMIN_ROLE
from console.access import COOKIE, SESSION_S, Access, Person
from console.settings import ConsoleSettings
from kuflow_router.console_command import is_loopback, people
from tests.console.conftest import ADMIN
from tests.doubles.http import HttpDouble
from tests.doubles.kuflow import KuflowDouble
from tests.e2e.conftest import loan_event


@pytest.mark.anyio
async def test_a_page_without_a_session_goes_to_the_login(make_stand: Callable[..., Any]) -> None:
    async with make_stand() as stand:
        answer = await stand.console.get("/events?status=dead")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fevents%3Fstatus%3Ddead"


@pytest.mark.anyio
async def test_a_wrong_token_is_refused_with_401_and_no_session(
    make_stand: Callable[..., Any],
) -> None:
    async with make_stand() as stand:
        answer = await stand.login("not-the-token")
        assert answer.status_code == 401
        assert "That is not a console token." in answer.text
        assert COOKIE not in answer.cookies
        assert (await stand.console.get("/")).status_code == 303


@pytest.mark.anyio
async def test_the_right_token_opens_a_strict_httponly_session(
    make_stand: Callable[..., Any],
) -> None:
    async with make_stand() as stand:
        answer = await stand.login()
        cookie = answer.headers["set-cookie"]
        page = await stand.console.get("/")
    assert answer.status_code == 303
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and f"Max-Age={SESSION_S}" in cookie
    assert page.status_code == 200 and "Overview" in page.text
    assert ADMIN not in page.text and ADMIN not in cookie
    assert "default-src 'self'" in page.headers["content-security-policy"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "csrf", [pytest.param(None, id="missing"), pytest.param("x" * 64, id="wrong")]
)
async def test_a_change_without_the_csrf_token_is_refused_and_changes_nothing(
    make_stand: Callable[..., Any], kuflow: KuflowDouble, crm: HttpDouble, csrf: str | None
) -> None:
    async with make_stand() as stand:
        crm.fail("POST", "/api/contacts", status=422)
        event = loan_event(kuflow)
        await stand.router.send(event)
        await stand.router.work()
        await stand.login()
        data = {} if csrf is None else {"csrf": csrf}
        answer = await stand.console.post(f"/events/{event['id']}/purge", data=data)
        assert answer.status_code == 403
        assert len(await stand.router.dead(event["id"])) == 1


@pytest.mark.anyio
async def test_an_expired_session_goes_back_to_the_login(make_stand: Callable[..., Any]) -> None:
    async with make_stand() as stand:
        access: Access = stand.console._transport.app.state.console.access  # type: ignore[attr-defined]
        old = access.new_session(Person(ADMIN_ROLE, ADMIN_ROLE), now=0)
        stand.console.cookies.set(COOKIE, old)
        answer = await stand.console.get("/")
        change = await stand.console.post("/failures/0123456789ab/discard", data={"csrf": "x"})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    assert change.status_code == 303


@pytest.mark.anyio
async def test_a_forged_session_is_no_session(make_stand: Callable[..., Any]) -> None:
    admin = Person(ADMIN_ROLE, ADMIN_ROLE)
    forged = Access([(admin, "another-token-another-token")]).new_session(admin)
    async with make_stand() as stand:
        stand.console.cookies.set(COOKIE, forged)
        assert (await stand.console.get("/")).status_code == 303


@pytest.mark.anyio
async def test_login_never_redirects_off_site(make_stand: Callable[..., Any]) -> None:
    async with make_stand() as stand:
        answer = await stand.console.post(
            "/login", data={"token": ADMIN, "next": "//evil.example/x"}
        )
    assert answer.headers["location"] == "/"


@pytest.mark.anyio
async def test_on_loopback_without_a_token_there_is_no_login(
    make_stand: Callable[..., Any],
) -> None:
    local = {"host": "127.0.0.1:8001"}
    async with make_stand(token=None) as stand:
        first = await stand.console.get("/", headers=local)
        login = await stand.console.get(first.headers["location"], headers=local)
        page = await stand.console.get("/", headers=local)
        rebound = await stand.console.get("/", headers={"host": "attacker.example:8001"})
    assert login.status_code == 303 and COOKIE in login.cookies
    assert page.status_code == 200 and "Log out" not in page.text
    assert rebound.status_code == 421  # DNS rebinding: a page of another site gets nothing


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),  # noqa: S104
        ("10.0.0.5", False),
    ],
)
def test_beyond_loopback_the_console_needs_a_token(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    settings = ConsoleSettings()
    if loopback:
        assert people(settings, host) == []
    else:
        with pytest.raises(SettingsError, match="ROUTER_ADMIN_TOKEN"):
            people(settings, host)


@pytest.mark.anyio
async def test_a_form_too_large_or_of_another_kind_is_refused(
    make_stand: Callable[..., Any],
) -> None:
    async with make_stand() as stand:
        await stand.login()
        csrf = await stand.csrf("/rules")
        huge = await stand.console.post("/rules/try", data={"csrf": csrf, "event": "x" * 1_100_000})
        json_body = await stand.console.post("/rules/try", json={"csrf": csrf})
    assert huge.status_code == 400 and "at most 1024 KB" in huge.text
    assert json_body.status_code == 400


@pytest.mark.anyio
async def test_logout_ends_the_session_on_the_server(make_stand: Callable[..., Any]) -> None:
    async with make_stand() as stand:
        await stand.login()
        kept = stand.console.cookies[COOKIE]  # what a stolen or copied cookie would hold
        csrf = await stand.csrf()
        out = await stand.console.post("/logout", data={"csrf": csrf})
        stand.console.cookies.set(COOKIE, kept)
        after = await stand.console.get("/")
    assert out.status_code == 303
    assert after.status_code == 303 and after.headers["location"].startswith("/login")


@pytest.mark.anyio
@pytest.mark.parametrize("url", ["https://console.example.com/", "http://127.0.0.1:8001/"])
async def test_the_cookie_is_secure_when_the_console_is_reached_over_https(
    redis_url: str, tmp_path: Any, url: str
) -> None:
    from redis.asyncio import Redis

    from console.app import create_console
    from handlers.rules.reload import LiveRules
    from tests.conftest import serve_app

    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nrules: []\n")
    async with Redis.from_url(redis_url) as redis:
        app = create_console(redis, LiveRules(rules), ADMIN, 3600, url)
        async with serve_app(app) as client:
            answer = await client.post("/login", data={"token": ADMIN, "next": "/"})
    assert answer.status_code == 303
    assert ("Secure" in answer.headers["set-cookie"]) is url.startswith("https")


@pytest.mark.anyio
async def test_an_unreachable_redis_gets_a_clear_page_and_the_console_recovers(
    redis_url: str, tmp_path: Any
) -> None:
    from redis.asyncio import Redis

    from console.app import create_console
    from handlers.rules.reload import LiveRules
    from kuflow_router.redis_server import free_port
    from tests.conftest import serve_app

    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nrules: []\n")
    port = free_port()  # nothing listens there
    async with (
        Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=1) as gone,
        Redis.from_url(redis_url) as back,
    ):
        app = create_console(back, LiveRules(rules), ADMIN, 3600)
        async with serve_app(app) as client:
            await client.post("/login", data={"token": ADMIN, "next": "/"})  # audited: Redis up
            app.state.console.redis = gone
            down = await client.get("/events")
            app.state.console.redis = back  # Redis answers again
            up = await client.get("/events")
    assert down.status_code == 503 and down.headers["retry-after"] == "5"
    assert f"Redis at <code>127.0.0.1:{port}</code> is unreachable since" in down.text
    assert "Traceback" not in down.text and 'http-equiv="refresh"' in down.text
    assert up.status_code == 200 and app.state.console.redis_down_since is None
