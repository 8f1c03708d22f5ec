"""Errors of the rules layer.

RulesError
├── RulesLoadError     rules.yaml is invalid; carries every problem found, each with its position
├── TemplateError      a template could not be rendered for an event (a missing path);
│                      permanent for that rule
└── ParamsError        rendered parameters are not what the operation takes (a process_id
                       that is not a UUID, a path leaving the base URL); permanent too
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in a rules file, at a 1-based line and column."""

    line: int
    column: int
    message: str

    def format(self, filename: str) -> str:
        """`file:line:column: message`, the form editors and CI annotations understand."""
        return f"{filename}:{self.line}:{self.column}: {self.message}"


class RulesError(Exception):
    """Base class of every error of the rules layer."""


class RulesLoadError(RulesError):
    """The rules file is invalid; `problems` lists every problem, in file order."""

    def __init__(self, filename: str, problems: list[Problem]) -> None:
        self.filename = filename
        self.problems = sorted(problems)
        super().__init__("\n".join(p.format(filename) for p in self.problems))


class TemplateError(RulesError):
    """A template could not be rendered; the message names the path and the rule."""


class ParamsError(RulesError):
    """An action's rendered parameters are invalid; the message names the parameter and rule."""
