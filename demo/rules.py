"""The rules of demo mode: the user's own file, every connection pointed at the stand-ins."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from demo.api import PREFIX
from handlers.rules.model import RuleSet
from handlers.rules.source import Placeholders

PLACEHOLDER = "demo-placeholder"


def demo_environ(environ: Mapping[str, str]) -> Placeholders:
    """The environment, where an unset `${VAR}` reads as a placeholder instead of an error:
    the stand-ins take any credential (its `filled` names them)."""
    return Placeholders(environ, lambda name: PLACEHOLDER)


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
