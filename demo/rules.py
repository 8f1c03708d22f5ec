"""The rules of demo mode: the user's own file, every connection pointed at the stand-ins."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping

from demo.api import PREFIX
from handlers.rules.model import RuleSet

PLACEHOLDER = "demo-placeholder"


class DemoEnviron(Mapping[str, str]):
    """The environment, where an unset `${VAR}` reads as a placeholder instead of an error:
    the stand-ins take any credential."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def __getitem__(self, name: str) -> str:
        return self._environ.get(name, PLACEHOLDER)

    def __contains__(self, name: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._environ)

    def __len__(self) -> int:
        return len(self._environ)


def pointed_at(base_url: str) -> Callable[[RuleSet], RuleSet]:
    """A transform of rule sets: each connection's base_url becomes its stand-in's."""

    def transform(rules: RuleSet) -> RuleSet:
        connections = {
            name: c.model_copy(update={"base_url": f"{base_url}{PREFIX}/{c.type}"})
            for name, c in rules.connections.items()
        }
        # The stand-ins know nothing of the events sent: verifying against them would refuse
        # every example event, so demo mode trusts what it is sent.
        return dataclasses.replace(rules, connections=connections, verify=False)

    return transform
