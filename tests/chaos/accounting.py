"""The accounting line every chaos scenario ends with, collected for the end of the run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

LINES: list[str] = []


@dataclass
class Accounting:
    """What happened to every event of a scenario."""

    scenario: str
    sent: int = 0
    acknowledged: int = 0
    processed: int = 0
    actions_expected: int = 0
    actions_observed: int = 0
    duplicates: int = 0
    lost: int = 0
    dead_lettered: int = 0

    def observe(self, effects: Counter[tuple[str, str]], expected: set[tuple[str, str]]) -> None:
        """Compare the effects an API double saw with those the events should have had."""
        self.actions_expected = len(expected)
        self.actions_observed = sum(1 for key in expected if effects[key])
        self.duplicates = sum(count - 1 for count in effects.values() if count > 1)
        self.lost = self.actions_expected - self.actions_observed

    def record(self) -> str:
        line = (
            f"{self.scenario}: sent {self.sent}, acknowledged {self.acknowledged}, "
            f"processed {self.processed}, actions expected {self.actions_expected}, "
            f"observed {self.actions_observed}, duplicates {self.duplicates}, lost {self.lost}, "
            f"dead-lettered {self.dead_lettered}"
        )
        LINES.append(line)
        return line
