"""`kuflow-router send EVENT.json --url URL`: post an event as KuFlow (or a signing gateway) would.

The operator's self-test of a deployment: it authenticates with the configured credentials —
an HMAC signature when ROUTER_WEBHOOK_SECRETS is set, else Basic, else the token in the path —
and prints the answer.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from receiver.auth import sign_headers
from receiver.settings import ReceiverSettings, load_settings


def _request(settings: ReceiverSettings, url: str, body: bytes) -> tuple[str, dict[str, str], str]:
    """The URL and headers to send with, and which mode was used."""
    headers = {"content-type": "application/json"}
    if settings.webhook_secrets:
        secret = settings.webhook_secrets[0].get_secret_value()
        headers |= sign_headers(secret, f"msg_{uuid.uuid4().hex}", int(time.time()), body)
        return url, headers, "hmac"
    if settings.webhook_basic:
        pair = settings.webhook_basic[0].get_secret_value().encode()
        headers["authorization"] = "Basic " + base64.b64encode(pair).decode()
        return url, headers, "basic"
    if settings.webhook_tokens:
        token = settings.webhook_tokens[0].get_secret_value()
        if url.rstrip("/").rsplit("/", 1)[-1] != token:  # unless the URL already carries it
            url = f"{url.rstrip('/')}/{token}"
        return url, headers, "token"
    return url, headers, "none"


def _sent_now(body: bytes) -> bytes:
    """The event with its `timestamp` set to now, as if KuFlow sent it this moment: the
    receiver refuses events older than its dedup window. A body that is not a JSON object is
    sent as it is (the receiver will say what is wrong with it)."""
    try:
        event = json.loads(body)
    except ValueError:
        return body
    if not isinstance(event, dict):
        return body
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps({**event, "timestamp": now}, ensure_ascii=False).encode()


def cmd_send(args: argparse.Namespace) -> int:
    """Send the event file; exit 0 on a 2xx answer, 1 otherwise."""
    settings = load_settings()
    try:
        body = args.event.read_bytes()
    except OSError as exc:
        print(f"kuflow-router: cannot read {args.event}: {exc}", file=sys.stderr)
        return 1
    if not args.as_is:
        body = _sent_now(body)
    url, headers, mode = _request(settings, args.url, body)
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=args.timeout)
    except httpx.HTTPError as exc:
        print(f"kuflow-router: no answer from {args.url}: {exc} — is the router running and "
              "listening there? Check --url (host and port) and that nothing blocks the way "
              "(a proxy, a firewall)", file=sys.stderr)  # fmt: skip
        return 1
    print(f"{response.status_code} {response.reason_phrase}  (authenticated with: {mode})")
    shown: Any
    try:
        shown = json.dumps(response.json(), indent=2, ensure_ascii=False)
    except ValueError:
        shown = response.text
    print(shown)
    advice = ADVICE.get(response.status_code)
    if advice:
        print(f"kuflow-router: {advice}", file=sys.stderr)
    return 0 if response.is_success else 1


# What to check when the router refuses the event, by its status.
ADVICE = {
    401: "the router refused the credentials: the ROUTER_WEBHOOK_TOKENS, _BASIC or _SECRETS "
    "this command read (here, or in .env) must be ones the router accepts, and --url must be "
    "its webhook URL (/webhooks/kuflow, without a token: this command adds it)",
    404: "no webhook at that path: --url must end in /webhooks/kuflow",
    400: "the router says the event is not valid: see `errors` above for each field",
    413: "the event is larger than the router's ROUTER_MAX_BODY_BYTES",
    503: "the router could not queue the event (its Redis does not answer): see its log",
}


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `send`."""
    send = commands.add_parser(
        "send", help="post an event file to a router with the configured credentials (self-test)"
    )
    send.add_argument("event", type=Path, metavar="EVENT.json")
    send.add_argument(
        "--url", required=True, help="the webhook URL, e.g. http://localhost:8000/webhooks/kuflow"
    )
    send.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    send.add_argument(
        "--as-is",
        action="store_true",
        help="send the file byte for byte (by default its timestamp is set to now)",
    )
    send.set_defaults(handler=cmd_send)
