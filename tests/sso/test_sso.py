"""Single sign-on to the console against a real OpenID provider — oidc-provider, under Node,
installed from the npm registry by scripts/test — and a real `kuflow-router console`, driven by
Chromium: groups map to roles; a person in no mapped group, a replayed state, an ID token for
another audience and an expired one are each refused, and each refusal is audited.

Without Node (or oidc-provider) the tests are skipped with one line saying what to install;
under CI (`CI=true`) they must run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from redis.asyncio import Redis

from console.sso import LEEWAY_S, Provider, Refused, SignOn, role_map
from kuflow_router.redis_server import free_port
from store import audit, sessions
from tests.console.conftest import ADMIN
from tests.console.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.processes import router_command, router_env

HERE = Path(__file__).parent
SECRET = "router-secret-0123456789abcdef"
ROLE_MAP = "kuflow-admins=admin,kuflow-ops=operator,staff=viewer"


def _need(what: str, why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing: CI must run the sign-on tests ({why})")
    pytest.skip(f"the sign-on tests need {what}: {why}")


@dataclass
class Stand:
    console: str  # the console's URL
    issuer: str
    redis_url: str


def _wait(url: str, process: subprocess.Popen[bytes], logs: Path) -> None:
    deadline = time.monotonic() + 60  # a guard against a hung start, not a speed assertion
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{url}'s process exited: {logs.read_text()}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer: {logs.read_text()}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        _need("Chromium", "sudo apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def stand(redis_url: str, tmp_path: Path) -> Iterator[Stand]:
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules" / "oidc-provider").is_dir():
        _need("Node and oidc-provider", "Node 20 and `npm ci --prefix tests/sso`")
    console_port, provider_port = free_port(), free_port()
    console, issuer = f"http://127.0.0.1:{console_port}", f"http://127.0.0.1:{provider_port}"
    (tmp_path / "rules.yaml").write_text("version: 1\nrules: []\n")
    env = router_env(ROUTER_REDIS_URL=redis_url, ROUTER_CONSOLE_URL=console,
                     ROUTER_OIDC_ISSUER=issuer, ROUTER_OIDC_CLIENT_ID="router",
                     ROUTER_OIDC_CLIENT_SECRET=SECRET, ROUTER_OIDC_ROLE_MAP=ROLE_MAP,
                     ROUTER_OIDC_SCOPES="openid email groups", ROUTER_ADMIN_TOKEN=ADMIN,
                     ROUTER_LOG_FORMAT="text")  # fmt: skip
    logs = tmp_path / "logs"
    with logs.open("wb") as out:
        provider = subprocess.Popen(
            [node, str(HERE / "provider.js"), str(provider_port), f"{console}/login/sso/callback"],
            stdout=out, stderr=out, cwd=HERE,
        )  # fmt: skip
        router = subprocess.Popen([*router_command(), "console", "--port", str(console_port)],
                                  env=env, cwd=tmp_path, stdout=out, stderr=out)  # fmt: skip
    try:
        _wait(f"{issuer}/.well-known/openid-configuration", provider, logs)
        _wait(f"{console}/login", router, logs)
        yield Stand(console, issuer, redis_url)
    finally:
        for process in (router, provider):
            process.terminate()
            process.wait(timeout=30)
    assert SECRET not in logs.read_text() and ADMIN not in logs.read_text()  # never a secret


def sign_in(page: Any, stand: Stand, email: str) -> None:
    """Through the console's button and the provider's own login form (any password)."""
    page.goto(f"{stand.console}/events")
    page.get_by_role("link", name="Sign in with single sign-on").click()
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()


T = TypeVar("T")


def off_the_loop(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run async `work` in a thread of its own: Playwright's sync API holds this one's loop."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, work()).result()


def _audit(redis_url: str) -> list[audit.Entry]:
    async def read() -> list[audit.Entry]:
        async with Redis.from_url(redis_url) as redis:
            return await audit.entries(redis)

    return off_the_loop(read)


def test_groups_become_roles_and_a_person_in_no_mapped_group_is_refused(
    browser: Any, stand: Stand
) -> None:
    login = httpx.get(f"{stand.console}/login").text
    assert "Sign in with single sign-on" in login and 'name="token"' in login  # both on
    for email, role in [("ada@example.com", "admin"), ("olu@example.com", "operator"),
                        ("vic@example.com", "viewer")]:  # fmt: skip
        context = browser.new_context()
        page = context.new_page()
        sign_in(page, stand, email)
        page.wait_for_url(f"{stand.console}/events")
        assert page.locator(".who").inner_text() == f"{email} ({role})"
        context.close()
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, stand, "nobody@example.com")
    refusal = page.get_by_role("alert").inner_text()
    assert "nobody@example.com is in no group ROUTER_OIDC_ROLE_MAP gives a role" in refusal
    assert context.cookies(stand.console) == [] or all(
        c["name"] != "kuflow_router_console" for c in context.cookies(stand.console)
    )
    context.close()
    logins = [(e.actor, e.role, e.outcome[:6], e.detail.get("via")) for e in _audit(stand.redis_url)
              if e.action == "login"]  # fmt: skip
    assert logins == [("", "", "failed", "sso"), ("vic@example.com", "viewer", "done", "sso"),
                      ("olu@example.com", "operator", "done", "sso"),
                      ("ada@example.com", "admin", "done", "sso")]  # fmt: skip


def test_a_replayed_state_is_refused(browser: Any, stand: Stand) -> None:
    context = browser.new_context()
    page = context.new_page()
    returns: list[str] = []
    page.on("request", lambda r: returns.append(r.url) if "/login/sso/callback" in r.url else None)
    sign_in(page, stand, "olu@example.com")
    page.wait_for_url(f"{stand.console}/events")
    (back,) = returns
    page.goto(back)  # the same state and code again: its cookie is gone with its first use …
    assert "was not begun in this browser" in page.get_by_role("alert").inner_text()
    state = parse_qs(urlsplit(back).query)["state"][0]
    context.add_cookies([{"name": "kuflow_router_sso", "value": state,
                          "url": f"{stand.console}/login/sso"}])  # fmt: skip
    page.goto(back)  # … and with the cookie put back, the state itself was used once already
    assert "state is unknown or was used already" in page.get_by_role("alert").inner_text()
    context.close()


@pytest.mark.parametrize("wrong", ["audience", "expired"])
def test_an_id_token_for_another_audience_or_expired_is_refused(
    browser: Any, stand: Stand, wrong: str
) -> None:
    """A real ID token of the provider for client `router`, checked as another client would
    (`other`), or later than it lasts."""
    provider = Provider(stand.issuer, "router", SECRET, f"{stand.console}/login/sso/callback",
                        "groups", role_map(ROLE_MAP), "openid email groups")  # fmt: skip

    async def begin() -> tuple[str, str]:
        async with Redis.from_url(stand.redis_url) as redis:
            return await SignOn(provider, redis).begin("/")

    url, state = off_the_loop(begin)
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    page.locator("input[name=login]").fill("ada@example.com")
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()
    # Back at the console, which refuses it (this browser did not begin it) before touching its
    # state or its code: the test takes the code from the address and exchanges it itself.
    page.wait_for_url(lambda at: "/login/sso/callback" in at)
    codes = parse_qs(urlsplit(page.url).query)["code"]
    context.close()

    async def exchange_and_check() -> str:
        async with Redis.from_url(stand.redis_url) as redis:
            begun = json.loads(await sessions.take_sso(redis, state) or "{}")
            sign_on = SignOn(provider, redis)
            metadata = await sign_on.metadata()
            async with httpx.AsyncClient() as http:
                answer = await http.post(metadata["token_endpoint"], auth=("router", SECRET),
                                         data={"grant_type": "authorization_code", "code": codes[0],
                                               "redirect_uri": provider.redirect_uri,
                                               "code_verifier": begun["verifier"]})  # fmt: skip
            token = answer.json()
            claims = await sign_on.check(token["id_token"], begun["nonce"], token["access_token"])
            assert claims["email"] == "ada@example.com"  # the token holds, as it is
            if wrong == "audience":
                other = Provider(**{**provider.__dict__, "client_id": "other"})
                checker, now = SignOn(other, redis), None
            else:
                checker, now = sign_on, claims["exp"] + LEEWAY_S + 1
            with pytest.raises(Refused) as refused:
                await checker.check(token["id_token"], begun["nonce"], token["access_token"], now)
            return str(refused.value)

    said = off_the_loop(exchange_and_check)
    assert ("aud" in said) if wrong == "audience" else ("expired" in said), said
