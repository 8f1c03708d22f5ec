"""The gate every call to a connection passes: its limits and its circuit breaker, in Redis.

Before a call, `admit` decides in one atomic step (a Lua script) whether it may go now:
- a connection *held* by an operator (`connections pause`) holds every call, and notes the
  job, so that `resume` brings each back at once;
- a connection *paused* by a `Retry-After` (429, or 503 with the header) holds every call;
- an *open* breaker holds every call until its cooldown ends; then it is *half-open*, and the
  one call admitted next is the probe that decides (one probe at a time, on a lease);
- `limits.concurrency` counts calls in flight (each holds a slot on a lease, so a worker that
  dies mid-call frees it);
- `limits.rate` and `burst` are a GCRA (the generic cell rate algorithm): one timestamp per
  connection, the "theoretical arrival time", moved on by one interval per admitted call.
A held call is told how long to wait; waiting is not an attempt and not a failure. After the
call, `settle` frees the slot and feeds the breaker: transient failures in a row open it,
a success closes it. Every worker process shares the one state, so they agree and the limit
holds across them. The clock is Redis's own (`TIME`), or one the caller passes (tests).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Protocol

from redis.asyncio import Redis

from store import keys, lua, pauses
from store.pauses import Pause

CONNECTION_STATS_TTL_S = (
    2 * 3600
)  # per-minute counts of a connection, for `kuflow-router connections`
CONCURRENCY_POLL_MS = 25  # a call waiting for a slot in flight looks again after this
PROBING_WAIT_MS = 250  # while a probe is out, others look again after at most this
LEASE_MARGIN_S = 5.0  # a slot or a probe is held this much longer than the call's timeout
# Both start with the time: ARGV[1] in ms, or, when it is 0, Redis's own clock.
_ADMIT, _SETTLE = lua.script("clock", "admit"), lua.script("clock", "settle")
HOLD_FIELDS = ("hold_since", "hold_until", "hold_by", "hold_reason")


class Limits(Protocol):
    """A connection's `limits:` as the gate reads them (handlers/clients/policy.py)."""

    @property
    def rate(self) -> float | None: ...  # calls a second
    @property
    def burst_calls(self) -> int: ...
    @property
    def concurrency(self) -> int | None: ...
    def describe(self) -> str: ...


class Breaker(Protocol):
    """A connection's `breaker:` as the gate reads it (handlers/clients/policy.py)."""

    @property
    def open_after(self) -> int: ...
    @property
    def cooldown(self) -> float: ...  # seconds
    @property
    def max_cooldown(self) -> float: ...
    def describe(self) -> str: ...


class Gated(Protocol):
    """A connection, as far as the gate is concerned."""

    @property
    def type(self) -> str: ...
    @property
    def limits(self) -> Limits | None: ...
    @property
    def breaker(self) -> Breaker | None: ...


class State(IntEnum):
    """A connection's breaker, as `router_connection_state` reports it."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2

    @property
    def word(self) -> str:
        """`closed`, `open`, `half-open`."""
        return self.name.lower().replace("_", "-")


class Held(StrEnum):
    """Why a call may not go now."""

    OPERATOR = "operator"  # paused on purpose: `connections pause`
    PAUSED = "paused"  # the API said Retry-After
    OPEN = "open"  # the breaker is open
    PROBING = "probing"  # half-open, and another call is the probe
    CONCURRENCY = "concurrency"
    RATE = "rate"


class Transition(StrEnum):
    """A change of a breaker's state, as logs, metrics and alerts name it."""

    OPENED = "opened"
    HALF_OPEN = "half_open"
    REOPENED = "reopened"  # the probe failed: open again, for twice as long
    CLOSED = "closed"


@dataclass(frozen=True)
class Admission:
    """What the gate said of one call: go (after `wait_s`, its reserved turn), or held for
    `wait_s`."""

    connection: str
    held: Held | None
    wait_s: float
    state: State
    probe: bool = False  # this call decides whether a half-open breaker closes
    token: str = ""
    failures: int = 0  # transient failures in a row before this call
    concurrency: bool = False  # a slot is held: `settle` must free it
    hold: str = ""  # held by an operator: `paused by … since …: reason`

    @property
    def go(self) -> bool:
        """The call may be sent now."""
        return self.held is None

    @property
    def half_opened(self) -> bool:
        """This call's admission moved an open breaker to half-open."""
        return self.probe and self.state is State.OPEN


OPEN_GATE = Admission("", None, 0.0, State.CLOSED)


def gated(connection: Gated) -> bool:
    """Whether calls of `connection` pass the gate at all (a limit or a breaker is set)."""
    return connection.limits is not None or connection.breaker is not None


def _minute(now_ms: int) -> int:
    return int((now_ms or time.time() * 1000) // 60_000)


async def admit(
    redis: Redis,
    name: str,
    connection: Gated,
    timeout_s: float,
    reserve_s: float = 0.0,
    now_ms: int = 0,
    job_id: str = "",
) -> Admission:
    """May a call of connection `name` (taking up to `timeout_s`) go? One round trip; none
    when the connection has no limits and no breaker.

    Under a rate, a call whose turn comes within `reserve_s` is admitted with that turn
    reserved: `wait_s` says how long to sleep before sending. A later turn is not reserved
    (the call is held), so a job that goes back to the queue takes no turn with it. `job_id`:
    the job asking, noted while an operator's pause holds it (`resume` brings it back)."""
    if not gated(connection):
        return OPEN_GATE
    limits, token = connection.limits, uuid.uuid4().hex
    rate = limits.rate if limits else None
    concurrency = limits.concurrency if limits else None
    lease_ms = int((timeout_s + LEASE_MARGIN_S) * 1000)
    verdict, wait_ms, state, probe, failures, *hold = await lua.run(
        redis, _ADMIT,
        [keys.connection(name), keys.connection_slots(name),
         keys.connection_minute(name, _minute(now_ms)), keys.CONNECTIONS,
         keys.connection_held(name)],
        [now_ms, token, 1000.0 / rate if rate else 0, limits.burst_calls if limits else 1,
         concurrency or 0, lease_ms, "1" if connection.breaker else "0", lease_ms,
         CONNECTION_STATS_TTL_S, PROBING_WAIT_MS, CONCURRENCY_POLL_MS, int(reserve_s * 1000),
         name, job_id, int(pauses.HOLD_RECHECK_S * 1000)],
    )  # fmt: skip
    verdict = verdict.decode() if isinstance(verdict, bytes) else str(verdict)
    held = None if verdict == "go" else Held(verdict)
    note = _held_by(*hold).text if hold else ""
    return Admission(name, held, int(wait_ms) / 1000, State(int(state)), bool(probe), token,
                     int(failures), bool(concurrency), note)  # fmt: skip


def _held_by(by: bytes | None, since_ms: int, reason: bytes | None, until_ms: int = 0) -> Pause:
    """An operator's pause of a connection, from its hold fields."""
    return Pause((by or b"").decode() or "an operator", int(since_ms), until_ms,
                 (reason or b"").decode())  # fmt: skip


async def pause(redis: Redis, name: str, by: str, reason: str = "", until_ms: int = 0) -> None:
    """Hold every call of connection `name` on purpose, until `resume` (or `until_ms`): the
    actions that would call it wait — no call, no try counted, nothing dead-lettered."""
    values = {"hold_since": int(time.time() * 1000), "hold_until": until_ms, "hold_by": by,
              "hold_reason": reason}  # fmt: skip
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(keys.connection(name), mapping=values)
        pipe.sadd(keys.CONNECTIONS, name)
        await pipe.execute()


async def resume(redis: Redis, name: str) -> int:
    """Lift an operator's pause of connection `name`, and bring the jobs it held back to the
    queue's front (each process's line keeps their order); how many."""
    return await pauses.bring_back(redis, keys.connection(name), HOLD_FIELDS,
                                   keys.connection_held(name))  # fmt: skip


class CallResult(StrEnum):
    """How a call ended, as the breaker counts it."""

    OK = "ok"
    REFUSED = "refused"  # a permanent failure (a 4xx): the API is up; counted, not a breaker's
    FAILED = "failed"  # a transient failure: network, timeout, 5xx
    LIMITED = "limited"  # 429: the API is up but wants less; pauses, does not open the breaker


def answer_of(status: int, transient: bool) -> CallResult:
    """The breaker's view of a failed call that ended with `status` (0: none came back)."""
    if not transient:
        return CallResult.REFUSED
    return CallResult.LIMITED if status == 429 else CallResult.FAILED


async def settle(
    redis: Redis,
    connection: Gated,
    admission: Admission,
    answer: CallResult,
    pause_s: float | None = None,
    now_ms: int = 0,
) -> Transition | None:
    """After the call: free its slot, pause the connection for `pause_s` (Retry-After), feed
    the breaker. Returns the breaker's transition, if this call caused one. No round trip
    for a success that changes nothing (no slot, no failures in a row, not a probe)."""
    if not admission.token:
        return None
    quiet = not (admission.concurrency or admission.probe or admission.failures)
    if answer is CallResult.OK and quiet and not pause_s:
        return None
    breaker = connection.breaker
    name = admission.connection
    changed = await lua.run(
        redis, _SETTLE,
        [keys.connection(name), keys.connection_slots(name),
         keys.connection_minute(name, _minute(now_ms))],
        [now_ms, admission.token, answer, int((pause_s or 0) * 1000), "1" if breaker else "0",
         breaker.open_after if breaker else 0, int((breaker.cooldown if breaker else 0) * 1000),
         int((breaker.max_cooldown if breaker else 0) * 1000), CONNECTION_STATS_TTL_S],
    )  # fmt: skip
    changed = changed.decode() if isinstance(changed, bytes) else str(changed)
    return Transition(changed) if changed else None


@dataclass(frozen=True)
class Status:
    """One connection's shared state, as `kuflow-router connections` shows it."""

    state: State
    failures: int  # transient failures in a row
    open_until_ms: int
    paused_until_ms: int
    in_flight: int
    hold: str  # an operator's pause, in words ("" none)
    changed_at_ms: int
    opened: int  # how often it opened
    probes: int


async def status(redis: Redis, name: str) -> Status:
    """The shared state of connection `name`."""
    fields = ["state", "failures", "until", "paused_until", "changed_at", "opened", "probes"]
    now_ms = int(time.time() * 1000)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hmget(keys.connection(name), [*fields, *HOLD_FIELDS])
        pipe.zcount(keys.connection_slots(name), now_ms, "+inf")
        values, in_flight = await pipe.execute()
    since, until_ms, by, reason = values[len(fields) :]
    state, failures, until, paused, changed, opened, probes = (
        int(v or 0) for v in values[: len(fields)]
    )
    pause = _held_by(by, int(since or 0), reason, int(until_ms or 0)) if since else None
    hold = pause.text if pause and pause.active(now_ms) else ""
    return Status(State(state), failures, until, paused, int(in_flight), hold, changed, opened,
                  probes)  # fmt: skip


async def recent(redis: Redis, name: str, minutes: int) -> dict[str, int]:
    """Calls, failures and held calls of connection `name` in the last `minutes` minutes."""
    now = int(time.time() // 60)
    async with redis.pipeline(transaction=False) as pipe:
        for minute in range(now - minutes + 1, now + 1):
            pipe.hgetall(keys.connection_minute(name, minute))
        counts = await pipe.execute()
    total = {"calls": 0, "failures": 0, "held": 0}
    for count in counts:
        for field, value in count.items():
            name_ = field.decode() if isinstance(field, bytes) else field
            if name_ in total:
                total[name_] += int(value)
    return total


@dataclass(frozen=True)
class Report:
    """One connection as operators see it: its shared state, its settings, its recent calls."""

    name: str
    type: str
    status: Status
    recent: dict[str, int]  # calls, failures, held
    minutes: int  # of `recent`
    limits: str  # in words: `rate 20/s, burst 40, concurrency 5`, or `none`
    breaker: str  # in words, or `off`

    def state_text(self, now_ms: int) -> str:
        """`closed`, `open (24 s left)`, `half-open`, with a pause if one is on."""
        text = self.status.state.word
        if self.status.state is State.OPEN and self.status.open_until_ms > now_ms:
            text += f" ({(self.status.open_until_ms - now_ms) / 1000:.0f} s left)"
        if self.status.paused_until_ms > now_ms:
            text += f", paused {(self.status.paused_until_ms - now_ms) / 1000:.0f} s (Retry-After)"
        if self.status.hold:
            text += f"; HELD: {self.status.hold}"
        return text


async def report(redis: Redis, name: str, connection: Gated, minutes: int) -> Report:
    """Connection `name` as `kuflow-router connections` and the console show it."""
    limits = connection.limits.describe() if connection.limits else "none"
    breaker = connection.breaker.describe() if connection.breaker else "off"
    return Report(name, connection.type, await status(redis, name),
                  await recent(redis, name, minutes), minutes, limits, breaker)  # fmt: skip


async def reset(redis: Redis, name: str) -> None:
    """Close connection `name`'s breaker and lift a pause, by hand (`connections reset`)."""
    now = int(time.time() * 1000)
    fields = {"state": 0, "failures": 0, "until": 0, "paused_until": 0, "changed_at": now}
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(keys.connection(name), mapping=fields)
        pipe.hdel(keys.connection(name), "probe", "cooldown")
        await pipe.execute()


async def breakers(redis: Redis) -> dict[str, State]:
    """Each connection's breaker, by the names of connections that passed the gate."""
    members = await redis.smembers(keys.CONNECTIONS)  # type: ignore[misc]
    names = sorted(name.decode() for name in members)
    async with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hget(keys.connection(name), "state")
        values = await pipe.execute()
    return {name: State(int(value or 0)) for name, value in zip(names, values, strict=True)}
