"""Every ROUTER_* variable at once: what `kuflow-router run` reads, being all three roles."""

from __future__ import annotations

from common.settings import load
from console.settings import ConsoleSettings
from handlers.worker.settings import WorkerSettings
from receiver.settings import ReceiverSettings


class RouterSettings(ReceiverSettings, WorkerSettings, ConsoleSettings):
    """The receiver's, the worker's and the console's variables, the common ones once."""


def load_settings() -> RouterSettings:
    """Every variable from the environment.

    Raises:
        SettingsError: naming every offending variable.
    """
    return load(RouterSettings)
