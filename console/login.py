"""Logging in and out of the console: with a token (ROUTER_ADMIN_TOKEN, ROUTER_CONSOLE_TOKENS)
or by single sign-on (console/sso.py); each login, failed login and refusal audited."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from console import sso
from console.access import COOKIE, LOCAL, SESSION_S, Login
from console.web import (
    SECURITY_HEADERS,
    TEMPLATES,
    Form,
    address_of,
    console_of,
    read_form,
    safe_next,
)


async def login_form(request: Request) -> Response:
    console = console_of(request)
    target = safe_next(request.query_params.get("next"))
    session = await console.session(request)
    if console.access.open or session:
        onward = RedirectResponse(target, status_code=303)
        if session is None:
            with_cookie(onward, request, console.access.new_session(LOCAL), SESSION_S)
        return onward
    return _login_page(request, target, "", 200, {})


SSO_COOKIE = "kuflow_router_sso"  # the state of a sign-on this browser began


async def sso_begin(request: Request) -> Response:
    """Send the browser to the OpenID provider to sign in."""
    console = console_of(request)
    if console.sign_on is None:
        return Response("Single sign-on is not set up (ROUTER_OIDC_ISSUER).", status_code=404,
                        headers=SECURITY_HEADERS)  # fmt: skip
    address = address_of(request)
    # Each start keeps a state in Redis for ten minutes: a person starts a few, not hundreds.
    wait_s = console.sso_starts.wait_s(address)
    if wait_s:
        error = f"Too many sign-ins started from this address: try again in {wait_s} s."
        return _login_page(request, "/", error, 429, {"Retry-After": str(wait_s)})
    console.sso_starts.failed(address)
    try:
        url, state = await console.sign_on.begin(safe_next(request.query_params.get("next")))
    except sso.Refused as exc:
        await console.audit(request, None, "login", [], f"failed: {exc}", via="sso")
        return _login_page(request, "/", f"Single sign-on is unavailable: {exc}", 503, {})
    onward = RedirectResponse(url, status_code=303)
    # Lax, not Strict: it must come back with the provider's redirect, a cross-site navigation.
    onward.set_cookie(SSO_COOKIE, state, max_age=sso.STATE_S, httponly=True, samesite="lax",
                      secure=request.url.scheme == "https" or console.https,
                      path="/login/sso")  # fmt: skip
    return onward


async def sso_return(request: Request) -> Response:
    """The provider's redirect back: check everything, then make a session."""
    console = console_of(request)
    if console.sign_on is None:
        return Response("Single sign-on is not set up.", status_code=404, headers=SECURITY_HEADERS)
    q, address = request.query_params, address_of(request)
    wait_s = console.throttle.wait_s(address)
    if wait_s:  # refused returns count as wrong tokens do; past the limit, not even audited
        error = f"Too many refused sign-ins from this address: try again in {wait_s} s."
        return _login_page(request, "/", error, 429, {"Retry-After": str(wait_s)})
    try:
        if q.get("error"):
            # Only the error's code (OAuth's are words like access_denied): the address is
            # anyone's to write, and its text would read as the console's own.
            code = q["error"] if re.fullmatch(r"[a-z_]{1,40}", q["error"]) else "an error"
            raise sso.Refused(f"the provider answered {code}")
        person, target = await console.sign_on.finish(
            q.get("state", ""), q.get("code", ""), request.cookies.get(SSO_COOKIE, "")
        )
    except sso.Refused as exc:
        console.throttle.failed(address)
        await console.audit(request, None, "login", [], f"failed: {exc}", via="sso")
        refused = _login_page(request, "/", f"Single sign-on refused: {exc}", 403, {})
        refused.delete_cookie(SSO_COOKIE, path="/login/sso")
        return refused
    await console.audit(request, person, "login", [], via="sso")
    # A page of this site that moves on (not a redirect): the session cookie is SameSite=Strict,
    # and a browser keeps it off the rest of a redirect chain that began at the provider.
    said = {"target": safe_next(target), "name": person.name}
    onward = TEMPLATES.TemplateResponse(request, "signed_in.html", said)
    onward.headers.update(SECURITY_HEADERS)
    onward.delete_cookie(SSO_COOKIE, path="/login/sso")
    return with_cookie(onward, request, console.access.new_session(person), SESSION_S)


async def login(request: Request) -> Response:
    console = console_of(request)
    form = await read_form(request) or {}
    target = safe_next(form.get("next", ""))
    address = address_of(request)
    wait_s = console.throttle.wait_s(address)
    if wait_s:
        error = f"Too many wrong tokens from this address: try again in {wait_s} s."
        return _login_page(request, target, error, 429, {"Retry-After": str(wait_s)})
    person = console.access.login(form.get("token", ""))
    if person is None:
        console.throttle.failed(address)
        await console.audit(request, None, "login", [], "failed: no such token")
        return _login_page(request, target, "That is not a console token.", 401, {})
    onward = RedirectResponse(target, status_code=303)
    await console.audit(request, person, "login", [])
    return with_cookie(onward, request, console.access.new_session(person), SESSION_S)


def _login_page(
    request: Request, target: str, error: str, status: int, headers: dict[str, str]
) -> Response:
    """The login page (with `error`, if a try was refused)."""
    console = console_of(request)
    context = {"next": target, "error": error, "sso": console.sign_on is not None,
               "tokens": console.access.has_tokens}  # fmt: skip
    page = TEMPLATES.TemplateResponse(request, "login.html", context, status_code=status)
    page.headers.update({**SECURITY_HEADERS, **headers})
    return page


async def logout(request: Request, session: Login, form: Form) -> Response:
    await console_of(request).end(session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def with_cookie(response: Response, request: Request, value: str, max_age: int) -> Response:
    """`response` setting the session cookie: `Secure` when the console is reached over https,
    seen directly or said by ROUTER_CONSOLE_URL (a TLS-terminating proxy in front)."""
    secure = request.url.scheme == "https" or console_of(request).https
    response.set_cookie(COOKIE, value, max_age=max_age, httponly=True, samesite="strict",
                        secure=secure, path="/")  # fmt: skip
    return response
