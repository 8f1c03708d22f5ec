"""Chaos scenarios: a smoke size in the default run, the full size with `-m slow`."""

from __future__ import annotations

import pytest

from tests.chaos.accounting import LINES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if LINES:
        terminalreporter.section("event accounting")
        for line in LINES:
            terminalreporter.write_line(line)
