"""Read `.env` into the environment, as `scripts/run` does, so every command sees one setup.

The format is the one `scripts/run` writes and `.env.example` shows: `NAME=value` lines,
`#` comments, blank lines, an optional `export ` and optional quotes around the value. A
variable already set in the environment wins over the file. A running router reads the file
again before each rules reload (`refresh`), so a credential added there is seen without a
restart, as `rules check` sees it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from common.errors import SettingsError

DEFAULT = Path(".env")
_read: list[Path] = []  # the file `load` read, if any
_ours: set[str] = set()  # the variables it put into the environment (not set there before)
_LINE = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)")


def _value(raw: str) -> str:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    return raw.split(" #", 1)[0].rstrip()


def parse(text: str, filename: str) -> dict[str, str]:
    """The variables of an env file.

    Raises:
        SettingsError: a line is not `NAME=value` (the message names the line, not its text,
            which may hold a secret).
    """
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.fullmatch(stripped)
        if match is None:
            raise SettingsError(
                f"{filename}:{number}: not of the form NAME=value; fix or remove the line"
            )
        found[match.group(1)] = _value(match.group(2))
    return found


def load(path: Path | None) -> Path | None:
    """Put the file's variables into os.environ (set ones win); the file read, if any.

    `path` None means `./.env` if it exists; a named file must exist.
    """
    chosen = path or DEFAULT
    if path is None and not chosen.is_file():
        return None
    try:
        text = chosen.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(
            f"cannot read the env file {chosen}: {exc.__class__.__name__}"
        ) from None
    for name, value in parse(text, str(chosen)).items():
        if name not in os.environ:
            os.environ[name] = value
            _ours.add(name)
    _read[:] = [chosen]
    return chosen


def refresh() -> None:
    """Read the file `load` read again: what it adds or changes now shows in the environment
    (a variable set outside the file still wins), what it no longer has is gone. A file that
    cannot be read or parsed now changes nothing; the reload then says what is missing."""
    if not _read:
        return
    try:
        values = parse(_read[0].read_text(encoding="utf-8"), str(_read[0]))
    except (OSError, UnicodeDecodeError, SettingsError):
        return
    for name in _ours - values.keys():
        os.environ.pop(name, None)
        _ours.discard(name)
    for name, value in values.items():
        if name in _ours or name not in os.environ:
            os.environ[name] = value
            _ours.add(name)
