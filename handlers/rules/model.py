"""The shape of rules.yaml (pydantic, for validation) and the compiled rule set (dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from handlers.clients.base import Connection, Operation
from handlers.clients.params import Duration
from handlers.rules import paths
from handlers.rules.index import RuleIndex
from handlers.rules.match import Node


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetryModel(_Strict):
    """`retry:` — any key left out comes from the level above (action → rule → defaults)."""

    attempts: int | None = Field(default=None, ge=1, le=100)
    initial: Duration | None = None
    max: Duration | None = None


class DefaultsModel(_Strict):
    retry: RetryModel = RetryModel()
    timeout: Duration = 10.0


class EnrichmentModel(_Strict):
    connection: str


AlertKind = Literal["dead_letter", "breaker_opened", "breaker_closed", "reload_failed"]
ALERT_KINDS: tuple[AlertKind, ...] = ("dead_letter", "breaker_opened", "breaker_closed",
                                      "reload_failed")  # fmt: skip
# What an alert's templates can use: {{ alert.text }}, {{ alert.rule }} … (worker/alerts.py).
ALERT_FIELDS = ("kind", "title", "text", "rule", "action", "connection", "error", "status",
                "event_id", "event_type", "process_id", "attempts", "count", "link",
                "at")  # fmt: skip


class AlertModel(_Strict):
    """One item of `alerts:` — on which failures (`when`), through which action (`send`), how
    often at most (`window`)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    # `when:`, not `on:`: YAML 1.1 reads a bare `on` as the boolean true.
    when: list[AlertKind] = Field(default=list(ALERT_KINDS), min_length=1)
    window: Duration = 600.0
    text: str | None = None
    send: dict[str, Any]


class FileModel(_Strict):
    """The top level of rules.yaml; connections and rules are checked piece by piece."""

    version: Literal[1]
    connections: dict[str, dict[str, Any]] = {}
    defaults: DefaultsModel = DefaultsModel()
    enrichment: EnrichmentModel | None = None
    verify: bool = True  # check each acted-on event against KuFlow first (handlers/rules/verify.py)
    rules: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    # Paths (data.…, process.…, processItem.…) whose values the router must not keep: masked in
    # records, the dead-letter queue, the console, logs and alerts (handlers/rules/redaction.py).
    redact: list[str] = Field(
        default=[],
        description="Paths of the event (data.…) or of what is read from KuFlow (process.…, "
        "processItem.…) whose values are never kept: masked as [redacted] in the event's "
        "record, the dead-letter queue, the console, logs and alerts. The actions still get "
        "them. Example: process.entity.value.ssn",
    )


MAX_AFTER_S = 366 * 86400  # a timer waits at most a year (its record is kept that long and more)


class UnlessModel(_Strict):
    """`unless:` — the event that cancels a rule's timer, and what it must share with the
    starting event."""

    event: dict[str, Any] = Field(
        description="A pattern like `when`, on the event as it arrives (type, data.…): an event "
        "matching it, received before the timer is due, cancels the timer."
    )
    same: list[str] = Field(
        default=[],
        description="Dotted fields (e.g. data.processItemId) the cancelling event must have "
        "equal to the starting event's; empty: any such event cancels.",
    )


class RuleModel(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    description: str = ""
    when: dict[str, Any]
    do: list[dict[str, Any]] = Field(min_length=1)
    retry: RetryModel | None = None
    timeout: Duration | None = None
    verify: Literal["skip"] | None = Field(
        default=None,
        description="skip: this rule acts on events KuFlow cannot vouch for — of no process or "
        "process item it knows (handlers/rules/verify.py); `rules check` warns of it.",
    )
    after: Duration | None = Field(
        default=None,
        description="Run the actions this long after the starting event was received (30s, "
        "10m, 48h, 7d) — a timer — unless the `unless:` event arrives first.",
    )
    on_failure: Literal["continue", "hold"] | None = Field(
        default=None,
        description="With ordering, when this rule's action is dead-lettered: continue (the "
        "process's later events run) or hold (they wait until the event is replayed and "
        "succeeds, or skipped). Default: ROUTER_ORDERING_ON_FAILURE.",
    )
    unless: UnlessModel | None = Field(
        default=None,
        description="The event that cancels the timer when it arrives before it is due; "
        "`same:` lists the fields both events must share.",
    )

    @field_validator("after")
    @classmethod
    def _after(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value <= MAX_AFTER_S:
            raise ValueError("`after` waits more than nothing and at most 366d")
        return value


class ActionOptions(_Strict):
    """The keys of an action item beside `<connection>.<operation>`."""

    as_: str | None = Field(default=None, alias="as", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    retry: RetryModel | None = None
    timeout: Duration | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently an action is retried on transient failures."""

    attempts: int = 12
    initial_s: float = 2.0
    max_s: float = 600.0

    def override(self, model: RetryModel | None) -> RetryPolicy:
        """This policy with the keys `model` sets replaced."""
        if model is None:
            return self
        return RetryPolicy(
            model.attempts if model.attempts is not None else self.attempts,
            model.initial if model.initial is not None else self.initial_s,
            model.max if model.max is not None else self.max_s,
        )


@dataclass(frozen=True)
class Action:
    """One compiled item of a rule's `do` list."""

    index: int
    name: str  # "<connection>.<operation>"
    connection: str
    operation: Operation[Any, Any, Any]
    params: Any  # the parameters with templates compiled
    result_as: str | None
    retry: RetryPolicy
    timeout_s: float

    @property
    def operation_name(self) -> str:
        """The part after the dot: `create_task` of `kuflow.create_task`."""
        return self.name.split(".", 1)[1]


@dataclass(frozen=True)
class Timer:
    """A rule's `after:` and `unless:`: its actions wait, and an event may cancel them."""

    after_s: float
    unless: Node | None = None  # None: a plain delay
    same: tuple[str, ...] = ()  # dotted fields compared between the two events

    @property
    def same_segments(self) -> tuple[paths.Segments, ...]:
        return tuple(paths.parse(path) for path in self.same)


@dataclass(frozen=True)
class Rule:
    """A compiled rule: when it matches, and what it does."""

    name: str
    description: str
    when: Node
    actions: tuple[Action, ...]
    needs: frozenset[str]  # enrichment roots (process, processItem) its `when` or templates use
    verified: bool = True  # False: `verify: skip`, it acts on events KuFlow cannot vouch for
    timer: Timer | None = None  # `after:`: the actions wait (handlers/worker/timers.py)
    on_failure: str | None = None  # "hold", "continue", or None: ROUTER_ORDERING_ON_FAILURE


@dataclass(frozen=True)
class Alert:
    """A compiled item of `alerts:`."""

    name: str
    when: frozenset[str]
    window_s: float  # one alert per cause per window; the rest are counted into the next
    text: Any  # the compiled `text:` template; None: the router's own words
    action: Action  # what sends it, its templates over `alert.*`


@dataclass(frozen=True)
class RuleSet:
    """Everything loaded from one rules file."""

    filename: str
    connections: dict[str, Connection]
    rules: tuple[Rule, ...]
    enrichment_connection: str | None  # the kuflow connection that fetches process.* data
    index: RuleIndex
    secrets: frozenset[str] = frozenset()  # values never to be written anywhere (common.redact)
    verify: bool = False  # `verify:` on and a kuflow connection to ask: events are checked
    retry: RetryPolicy = RetryPolicy()  # `defaults.retry`: also for reading process.* from KuFlow
    timeout_s: float = 10.0  # `defaults.timeout`: likewise
    alerts: tuple[Alert, ...] = ()
    redact: tuple[str, ...] = ()  # `redact:`: paths whose values are never kept

    def rule(self, name: str) -> Rule | None:
        """The rule called `name`, or None."""
        return next((rule for rule in self.rules if rule.name == name), None)

    @cached_property
    def timed(self) -> tuple[Rule, ...]:
        """The rules whose timer an event may cancel (`unless:`)."""
        return tuple(rule for rule in self.rules if rule.timer and rule.timer.unless)
