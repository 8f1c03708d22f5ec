"""The console's settings: ROUTER_* variables of its port, its access token and the rules."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from common.settings import AdminToken, CommonSettings, load


class ConsoleSettings(CommonSettings):
    """The console's variables."""

    console_port: int = Field(default=8001, ge=1, le=65535)
    admin_token: AdminToken = None
    rules_file: Path = Path("rules.yaml")
    console_url: str = ""  # where operators reach the console; https:// makes its cookie Secure

    def secrets(self) -> list[str | None]:
        token = self.admin_token.get_secret_value() if self.admin_token else None
        return [*super().secrets(), token]


def load_settings() -> ConsoleSettings:
    """The console's settings from the environment.

    Raises:
        SettingsError: naming every offending variable.
    """
    return load(ConsoleSettings)
