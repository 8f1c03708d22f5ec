"""Every ROUTER_* variable at once: what `kuflow-router run` reads, being receiver and worker."""

from __future__ import annotations

from common.settings import load
from handlers.worker.settings import WorkerSettings
from receiver.settings import ReceiverSettings


class RouterSettings(ReceiverSettings, WorkerSettings):
    """The receiver's variables and the worker's, with the common ones once."""


def load_settings() -> RouterSettings:
    """Every variable from the environment.

    Raises:
        SettingsError: naming every offending variable.
    """
    return load(RouterSettings)
