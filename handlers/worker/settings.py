"""The worker's settings: ROUTER_* variables of the rules file, concurrency and the DLQ."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from common.settings import AdminToken, CommonSettings, load

MAX_CONCURRENCY = 1000


class WorkerSettings(CommonSettings):
    """The worker's variables: which rules it runs, how many events at once, what it keeps."""

    rules_file: Path = Path("rules.yaml")
    worker_concurrency: int = Field(default=10, gt=0, le=MAX_CONCURRENCY)
    dlq_ttl_days: int = Field(default=30, gt=0, le=3650)
    dlq_max_bytes: int = Field(default=1024 * 1024 * 1024, ge=1024 * 1024)
    console_url: str = ""  # where operators reach the console: alerts link to its pages
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)  # unset: none served
    # Where it listens: this machine only, unless told (the image says 0.0.0.0 for Prometheus).
    worker_metrics_host: str = "127.0.0.1"
    admin_token: AdminToken = None  # what that /metrics asks for, as the receiver's does
    # Timers of rules with `after:` that may wait at once (store/timers.py): past either cap a
    # starting event's rule is dead-lettered with the reason, never dropped in silence.
    # With ordering, what a dead-lettered event does to the events of its process behind it:
    # continue (they run) or hold (they wait until it is replayed and succeeds, or skipped).
    ordering_on_failure: Literal["continue", "hold"] = "continue"
    timers_max: int = Field(default=1_000_000, gt=0)
    timers_max_per_rule: int = Field(default=250_000, gt=0)

    def secrets(self) -> list[str | None]:
        token = self.admin_token.get_secret_value() if self.admin_token else None
        return [*super().secrets(), token]


def load_settings() -> WorkerSettings:
    """The worker's settings from the environment.

    Raises:
        SettingsError: naming every offending variable.
    """
    return load(WorkerSettings)
