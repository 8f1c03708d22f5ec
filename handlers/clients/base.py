"""What every API module shares: the connection base model, planned requests, operations.

An operation is one entry in its API module's `OPERATIONS` table: the model of its parameters
(validated after templates are rendered) and a `plan` function that turns a connection and
parameters into the exact requests it sends, as a named tuple (`Single`, or the operation's own:
`Checked(change, read)`, say). The worker sends what `plan` returns — the one request, or through
the operation's runner, which gets the plan by name — and the dry run (`kuflow-router rules
test`) prints it, so the two cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, NamedTuple, TypeVar
from urllib.parse import quote, urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from handlers.clients.errors import UnsafePathValue
from handlers.clients.network import Client
from handlers.clients.params import Params
from handlers.clients.policy import Breaker, BreakerSetting, Limits


class SecretMark:
    """Marks a connection setting that holds a credential (`Secret`): it is masked in every log
    line, error and page, and the console never resolves a `${VAR}` written there."""


# A credential; a setting that is not one (an address, a choice) is left unmarked.
Secret = Annotated[str, SecretMark()]
# The application credentials of KuFlow and Alteryx (an OAuth client).
ClientId = Annotated[
    Secret,
    Field(description="The application's client id (KuFlow: Settings → Applications; Alteryx: "
          "the user's API key)."),
]  # fmt: skip
ClientSecret = Annotated[
    Secret,
    Field(description="The application's secret. Write ${NAME} and put the value in the "
          "environment, never in this file."),
]  # fmt: skip


def secret_settings(model: type[BaseModel]) -> frozenset[str]:
    """The names of `model`'s settings marked `Secret`."""
    return frozenset(
        name
        for name, info in model.model_fields.items()
        if any(isinstance(mark, SecretMark) for mark in info.metadata)
    )


class Connection(BaseModel):
    """Settings common to every connection in `connections:`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(description="The kind of API: a type of handlers/clients/catalogue.py.")
    base_url: str = Field(
        description="The API's root URL; every request of this connection starts with it. "
        "Event data can never change it."
    )
    limits: Limits | None = Field(  # none: as fast and as many at once as the worker goes
        default=None,
        description="How hard every worker together may use this API: {rate: 20/s, burst: 40, "
        "concurrency: 5}. An action over a limit waits for its turn; that is not an attempt.",
    )
    breaker: BreakerSetting = Field(  # None: never opens
        default=Breaker(),
        description="The circuit breaker: after open_after transient failures in a row, calls "
        "wait (spending no attempts) for cooldown, then one probe decides. false turns it off.",
    )

    @field_validator("base_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL such as https://api.example.com/v1")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("must not carry a query, a fragment or credentials")
        return value.rstrip("/")


@dataclass(frozen=True)
class PlannedRequest:
    """One HTTP request an action sends; `note` marks a conditional or dependent one."""

    method: str
    url: str
    json: Any = None
    query: tuple[tuple[str, str], ...] = ()
    form: tuple[tuple[str, str], ...] = ()  # an x-www-form-urlencoded body
    note: str = ""
    content_type: str = ""  # of a JSON body, when not application/json (a JSON Patch)

    @property
    def full_url(self) -> str:
        """The URL with its query string."""
        return f"{self.url}?{urlencode(self.query)}" if self.query else self.url

    def describe(self) -> str:
        """`METHOD URL` then the JSON body, as the dry run prints it."""
        line = f"{self.method} {self.full_url}"
        if self.note:
            line += f"   ({self.note})"
        if self.json is not None:
            line += "\n" + json.dumps(self.json, indent=2, ensure_ascii=False)
        if self.form:
            shown = [(k, "***" if "secret" in k else v) for k, v in self.form]
            line += "\n" + "&".join(f"{k}={v}" for k, v in shown)
        return line


class Single(NamedTuple):
    """The plan of an operation that sends one request."""

    request: PlannedRequest


C = TypeVar("C", bound=Connection)
P = TypeVar("P", bound=Params)
# A plan: the requests an operation sends, by name; None for one it does not send this time.
R = TypeVar("R", bound=tuple[PlannedRequest | None, ...])


@dataclass
class Session:
    """What all actions of one worker share: the HTTP client and cached access tokens."""

    http: Client
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # name → (token, expiry)


@dataclass(frozen=True)
class ActionCall(Generic[C, P]):
    """Everything one try of an action needs."""

    session: Session
    connection_name: str
    connection: C
    params: P
    key: str  # the idempotency key
    timeout_s: float
    resumed: bool = False  # an earlier try may have reached the API (a retry, or after a crash)
    previous: Mapping[str, Any] | None = None  # what a pending earlier try recorded (e.g. a job id)


@dataclass(frozen=True)
class ActionResult:
    """What an action produced: its remote id, and what `results.<as>` exposes."""

    id: str | None
    data: Mapping[str, Any]


class Pending(Exception):
    """The action started something to check on later (a running job): come back after `after_s`."""

    def __init__(self, data: Mapping[str, Any], after_s: float, reason: str) -> None:
        super().__init__(reason)
        self.data = data
        self.after_s = after_s


@dataclass(frozen=True)
class Operation(Generic[C, P, R]):
    """An action's parameters, the requests it sends, and (for multi-step ones) how to run it."""

    params: type[P]
    plan: Callable[[C, P, str], R]
    summary: str
    url_params: frozenset[str] = field(default_factory=frozenset)  # rendered URL-encoded
    # None: send the plan's one request (a `Single`) with the connection type's headers.
    run: Callable[[R, ActionCall[C, P]], Awaitable[ActionResult]] | None = None
    # The idempotency key is sent as the created object's id, so its id is known before the
    # call: the dry run shows it as the result, and a repeat is the same object.
    key_is_id: bool = False
    # A chat message (`text:` and nothing that must be found again): an alert may send it,
    # its text the alert's own.
    chat: bool = False

    def requests(self, connection: C, params: P, key: str) -> list[PlannedRequest]:
        """The plan's requests in the order they may be sent, as the dry run shows them."""
        return [request for request in self.plan(connection, params, key) if request is not None]

    @property
    def names(self) -> list[str]:
        """Parameter names as written in rules.yaml."""
        return [f.alias or name for name, f in self.params.model_fields.items()]

    @property
    def required(self) -> list[str]:
        """Parameter names without a default."""
        return [f.alias or n for n, f in self.params.model_fields.items() if f.is_required()]


# A stand-in's answer to one request (`run --demo`): the status and the JSON body.
Reply = tuple[int, Any]
# A stand-in for an API: what it remembers (its own dict), the method, the path after the
# connection's base_url in parts, and the JSON body (or the text of a form) → its answer.
StandIn = Callable[[dict[str, Any], str, list[str], Any], Reply]


@dataclass(frozen=True)
class ConnectionType(Generic[C]):
    """A `type:` of connection: its settings, operations, authentication and result shape, and
    the stand-in `run --demo` points its connections at (lenient: it answers in the API's shape
    without checking credentials or bodies)."""

    model: type[C]
    operations: Mapping[str, Operation[C, Any, Any]]
    headers: Callable[[ActionCall[C, Any]], Awaitable[dict[str, str]]]
    result: Callable[[Any], ActionResult]
    stand_in: StandIn


def url(base_url: str, template: str, **segments: str) -> str:
    """`base_url` + a fixed path whose `{name}` placeholders are filled URL-encoded.

    Every value is encoded with no safe characters, so `../x`, `a/b` or `?q` in event data
    stays inside its one path segment. A value of exactly `.` or `..` survives encoding (dots
    are unreserved) and would be resolved away by the HTTP client (`…/workflows/../jobs` is
    sent as `…/jobs`), so it is refused; a `%2e%2e` arrives encoded as `%252e%252e`, harmless.

    Raises:
        UnsafePathValue: a value is `.` or `..`; nothing may be sent.
    """
    for name, value in segments.items():
        if value in (".", ".."):
            raise UnsafePathValue(
                f"the value of {name} in {template} is {value!r}, which would change the path "
                "the request goes to; the request was not sent (check the event's data)"
            )
    return base_url + template.format(**{k: quote(v, safe="") for k, v in segments.items()})


def as_text(value: Any) -> str:
    """For APIs that take only strings: text unchanged, others in JSON form, null as ""."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping without its None values (optional fields not sent)."""
    return {k: v for k, v in values.items() if v is not None}


def result_from(body: Any, id_field: str = "id") -> ActionResult:
    """A result whose remote id is `body[id_field]` (when the body is an object that has it)."""
    data = body if isinstance(body, dict) else {"body": body}
    remote = data.get(id_field)
    return ActionResult(str(remote) if remote is not None else None, data)
