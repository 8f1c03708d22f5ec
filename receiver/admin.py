"""Who may read /metrics — the receiver's and a worker's own: with ROUTER_ADMIN_TOKEN set, the
holder of that token as a Bearer; without one, this machine only."""

from __future__ import annotations

import hmac
from ipaddress import ip_address

from starlette.requests import Request
from starlette.responses import Response

from receiver import problems


def _from_this_machine(request: Request) -> bool:
    try:
        return request.client is not None and ip_address(request.client.host).is_loopback
    except ValueError:  # not an IP address (a unix socket, a test client's name)
        return False


def metrics_refusal(request: Request, admin_token: bytes | None) -> Response | None:
    """None when `request` may read /metrics; else the problem to answer (403, 401)."""
    if admin_token is None:
        if _from_this_machine(request):
            return None
        detail = "Without ROUTER_ADMIN_TOKEN, /metrics answers only this machine; set it to scrape."
        return problems.problem(403, "forbidden", "Forbidden", detail)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), admin_token):
        return None
    return problems.problem(401, "unauthorized", "Unauthorized", "Send the admin token.")
