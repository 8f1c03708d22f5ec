"""Coverage-guided fuzzing (atheris, libFuzzer) of the parsers that read untrusted input.

    .venv/bin/pip install -e '.[dev,fuzz]'
    .venv/bin/python -m tests.chaos.fuzz TARGET [CORPUS_DIR] [-runs=N | -max_total_time=S]

TARGET is one of `event` (a webhook body), `signature` (Standard Webhooks headers over a body),
`rules` (a rules.yaml text) or `template` (a `{{ … }}` template and a document to render it
against). Each parser may accept its input or refuse it with its own documented error; anything
else is a finding, and libFuzzer saves the input as `crash-…`. Inputs grow from CORPUS_DIR when
given (tests/chaos/test_fuzz.py seeds one with rules.yaml and the example events).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable

import atheris

with atheris.instrument_imports(include=["receiver", "handlers"]):
    from contract.events import NotAnEvent, parse_event
    from handlers.rules.errors import RulesError
    from handlers.rules.loader import load_text
    from handlers.rules.template import Template, compile_string, render
    from receiver.auth import AuthConfig, check_signature
    from receiver.errors import Unauthorized
    from receiver.settings import ReceiverSettings

SECRET = "whsec_" + "a" * 43 + "="
AUTH = AuthConfig.from_settings(
    ReceiverSettings(webhook_secrets=SECRET, redis_url="redis://unused")
)


def event(data: bytes) -> None:
    with contextlib.suppress(NotAnEvent):
        parse_event(data)


def signature(data: bytes) -> None:
    fuzz = atheris.FuzzedDataProvider(data)
    headers = {
        "webhook-id": fuzz.ConsumeUnicodeNoSurrogates(40),
        "webhook-timestamp": str(int(time.time()) + fuzz.ConsumeIntInRange(-400, 400)),
        "webhook-signature": fuzz.ConsumeUnicodeNoSurrogates(200),
    }
    with contextlib.suppress(Unauthorized):
        check_signature(AUTH, headers, fuzz.ConsumeBytes(fuzz.remaining_bytes()))


def rules(data: bytes) -> None:
    text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data))
    with contextlib.suppress(RulesError):
        load_text(text, "fuzz.yaml", {"KUFLOW_CLIENT_ID": "id", "KUFLOW_CLIENT_SECRET": "s"})


def template(data: bytes) -> None:
    fuzz = atheris.FuzzedDataProvider(data)
    text = fuzz.ConsumeUnicodeNoSurrogates(200)
    try:
        document = json.loads(fuzz.ConsumeUnicodeNoSurrogates(fuzz.remaining_bytes()))
    except ValueError:
        document = {}
    try:
        compiled = compile_string(text)
    except ValueError:  # a malformed expression: the loader reports it with its position
        return
    if isinstance(compiled, Template):
        with contextlib.suppress(RulesError):
            render(compiled, {"data": document, "process": document}, "fuzz")


TARGETS: dict[str, Callable[[bytes], None]] = {
    "event": event,
    "signature": signature,
    "rules": rules,
    "template": template,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: python -m tests.chaos.fuzz {{{'|'.join(TARGETS)}}} [libFuzzer options]")
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
