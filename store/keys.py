"""Every Redis key the router writes, built in one place.

The router's own keys start with `router:`; arq's job keys keep arq's names so that a stock
`arq.Worker` can consume the jobs the receiver writes.
"""

from __future__ import annotations

from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix

PREFIX = "router:"
QUEUE = f"{PREFIX}queue"  # arq's queue (a sorted set of job ids scored by run time)
DLQ = f"{PREFIX}dlq"  # stream of dead-lettered actions
DLQ_BYTES = f"{PREFIX}dlq:bytes"  # what the dead-letter queue holds, in bytes (entries + events)
WAKE = f"{PREFIX}wake"  # list: one token per queued event, so an idle worker wakes at once
WAKE_TOKENS_MAX = 1000  # tokens beyond this are dropped: a backlog wakes workers anyway
EVENTS = f"{PREFIX}events"  # sorted set of event ids by receive time (ms): the console's index
STATS_TTL_S = 2 * 24 * 3600  # per-minute counts are kept two days (the overview shows one)
READY = f"{PREFIX}ready"  # list: parked events whose predecessor finished (worker/ordering.py)
CONNECTIONS = f"{PREFIX}connections"  # set: the names of connections that passed the gate
# A counter every enqueue raises: a primary whose count is below one a receiver acknowledged
# lacks acknowledged events (store/queue.py); an operator's confirmation is the time in
# FAILOVER_CONFIRMED.
ACKED = f"{PREFIX}acked"
FAILOVER_CONFIRMED = f"{PREFIX}failover:confirmed"
# Sorted set: the processes whose line a failed event holds (ROUTER_ORDERING_ON_FAILURE=hold), by
# since when (ms).
HELD_PROCESSES = f"{PREFIX}processes:held"
PAUSED_RULES = f"{PREFIX}rules:paused"  # hash: rule → its operator's pause (store/pauses.py)
AUDIT = f"{PREFIX}audit"  # stream: who changed what (store/audit.py)
READY_WAKE = f"{PREFIX}ready:wake"  # list: a token per READY entry, to wake a worker for it


def seen(event_id: str) -> str:
    """Dedup marker: present while an event id counts as already received."""
    return f"{PREFIX}seen:{event_id}"


def event(event_id: str) -> str:
    """The event log record (a hash): received time, status, matched rules, action outcomes."""
    return f"{PREFIX}event:{event_id}"


def ended_session(nonce: str) -> str:
    """A console session that logged out: present until the session would have expired."""
    return f"{PREFIX}console:ended:{nonce}"


def sso_state(state: str) -> str:
    """A single sign-on begun in a browser: its nonce, PKCE verifier and page, until it comes
    back (once) or ten minutes pass."""
    return f"{PREFIX}console:sso:{state}"


def job(job_id: str) -> str:
    """arq's key for a queued job's payload."""
    return f"{job_key_prefix}{job_id}"


def worker(worker_id: str) -> str:
    """A worker's heartbeat (a hash with a time to live): it is alive while this is fresh."""
    return f"{PREFIX}worker:{worker_id}"


def dlq_event(event_id: str) -> str:
    """The body of a dead-lettered event, kept once however many of its actions failed."""
    return f"{PREFIX}dlq:event:{event_id}"


def dlq_index(event_id: str) -> str:
    """A set: the stream ids of one event's dead-letter entries (no scan to find them)."""
    return f"{PREFIX}dlq:index:{event_id}"


DLQ_INDEXED = f"{PREFIX}dlq:indexed"  # present once entries written before the index are in it


def stats(minute: int) -> str:
    """Counts of one minute (epoch minutes): events received, by type, and finished, by status."""
    return f"{PREFIX}stats:{minute}"


def process(process_id: str) -> str:
    """One KuFlow process's ordering state (a hash): `seq`, the last sequence number given, and
    `latest`, the newest KuFlow timestamp (ms) of its events handled so far."""
    return f"{PREFIX}process:{process_id}"


def process_events(process_id: str) -> str:
    """Every event of one KuFlow process (a sorted set by receive time, ms): its timeline."""
    return f"{PREFIX}process:{process_id}:events"


def process_line(process_id: str) -> str:
    """The ids of one process's events not yet finished, in the order they were accepted."""
    return f"{PREFIX}process:{process_id}:line"


def in_progress(job_id: str) -> str:
    """arq's mark of a job being run."""
    return f"{in_progress_key_prefix}{job_id}"


def job_tries(job_id: str) -> str:
    """arq's count of a job's tries."""
    return f"{retry_key_prefix}{job_id}"


def job_keys(job_id: str) -> list[str]:
    """What arq keeps of a job while it is queued or running, all deleted when it is done
    (its entry in `QUEUE` aside): payload, in-progress mark, tries."""
    return [job(job_id), in_progress(job_id), job_tries(job_id)]


def connection(name: str) -> str:
    """One connection's shared state (a hash): its breaker, its pause after a 429, its rate."""
    return f"{PREFIX}connection:{name}"


def connection_slots(name: str) -> str:
    """The calls of one connection in flight (a sorted set: token → lease end, ms)."""
    return f"{PREFIX}connection:{name}:slots"


def rule_held(name: str) -> str:
    """The jobs an operator's pause of one rule holds (a sorted set: job id → when)."""
    return f"{PREFIX}rule:{name}:held"


def connection_held(name: str) -> str:
    """The jobs an operator's pause of one connection holds (a sorted set: job id → when)."""
    return f"{PREFIX}connection:{name}:held"


def connection_minute(name: str, minute: int) -> str:
    """One connection's counts of one minute (epoch minutes): calls, failures, held."""
    return f"{PREFIX}connection:{name}:minute:{minute}"


def alert(name: str, cause: str) -> str:
    """One alert's window for one cause: present while later ones are folded into a count."""
    return f"{PREFIX}alert:{name}:{cause}"


# Timers (store/timers.py): a timer's own record is an event record, `event(timer_id)`.
TIMERS = f"{PREFIX}timers"  # sorted set: pending timers by due time (ms)
# Sorted set: received events whose run has not begun, by receive time (ms): a timer fires
# only once every event received before its due time began, and so could cancel it.
UNSTARTED = f"{PREFIX}unstarted"


def rule_timers(rule: str) -> str:
    """One rule's pending timers (a sorted set by due time, ms)."""
    return f"{PREFIX}timers:rule:{rule}"


def process_timers(process_id: str) -> str:
    """Every timer one KuFlow process's events started (a sorted set by due time, ms)."""
    return f"{PREFIX}process:{process_id}:timers"


def timer_waits(rule: str, same: str) -> str:
    """The timers of `rule` started by events with the same `same` values (a digest): what a
    cancelling event with those values looks at (a sorted set by due time, ms)."""
    return f"{PREFIX}timers:wait:{rule}:{same}"


def timer_cancels(rule: str, same: str) -> str:
    """The events seen that cancel `rule`'s timers with those `same` values (a sorted set by
    receive time, ms): a timer started after its cancelling event was seen starts cancelled."""
    return f"{PREFIX}timers:unless:{rule}:{same}"


# Failures (store/failures.py): the dead letters of one cause, worked as one issue.
FAILURES = f"{PREFIX}failures"  # sorted set: failure ids by their latest dead letter (ms)
FAILURES_INDEXED = f"{PREFIX}failures:indexed"  # present once older dead letters are counted in


def failure(failure_id: str) -> str:
    """One failure's state: its cause, open/acknowledged/resolved, by whom, its counts."""
    return f"{PREFIX}failure:{failure_id}"


def failure_events(failure_id: str) -> str:
    """The events one failure holds in the dead-letter queue (a sorted set by receive time, ms:
    their replay goes in each process's order)."""
    return f"{PREFIX}failure:{failure_id}:events"
