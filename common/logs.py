"""Logging set-up: one JSON object per line by default (SPEC §8), or plain text for a terminal.

Call sites pass structured fields through `extra=` (`event_id`, `type`, `rule`, `action`,
`outcome`, `status`, `duration_ms`, `attempt`); the formatter puts them beside the message.
Never pass a secret or a whole body; registered secrets are masked anyway (`common.redact`).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from common import tracing
from common.redact import redact

# Attributes every LogRecord has; anything else on a record came from `extra=`.
# uvicorn adds `color_message`, a copy of the message with terminal colours.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


# Made once: `json.dumps(line, default=str)` would make an encoder for every line.
_encode = json.JSONEncoder(default=str).encode


def _fields(record: logging.LogRecord) -> dict[str, object]:
    fields = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
    traced = tracing.ids()  # with tracing on: the span the line was written in
    if traced is not None and "trace_id" not in fields:
        fields["trace_id"], fields["span_id"] = traced
    return fields


class JsonFormatter(logging.Formatter):
    """`{"time": …, "level": …, "logger": …, "msg": …, <extra fields>}` on one line."""

    _second = -1  # the second `_date_time` was made for
    _date_time = ""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": self._time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return redact(_encode(line))

    def _time(self, record: logging.LogRecord) -> str:
        """The record's time in UTC to the millisecond, as `isoformat(timespec="milliseconds")`
        writes it; its date and time of day are made once a second (a line per event)."""
        # Rounded to the microsecond first, as `datetime.fromtimestamp` does.
        second, micros = divmod(round(record.created * 1_000_000), 1_000_000)
        if second != self._second:
            self._second = second
            self._date_time = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._date_time}.{micros // 1000:03d}+00:00"


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value …` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        time = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        text = f"{time} {record.levelname:<7} {record.name}: {record.getMessage()} {extra}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return redact(text.rstrip())


def configure_logging(log_format: str, level: str) -> None:
    """Send every logger (ours, uvicorn's, arq's) to stderr in the chosen format."""
    # Neither format prints where a line was logged from, nor thread or process ids: skip
    # collecting them (the logging HOWTO's "Optimization"), a seventh of a line's cost.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "arq"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # One line per event comes from the receiver itself; uvicorn's access log would double it.
    logging.getLogger("uvicorn.access").disabled = True
    # arq logs each job's arguments — part of the event body — at INFO; the worker logs its own
    # lines per event and action, so arq speaks only of problems.
    logging.getLogger("arq.worker").setLevel(max(logging.WARNING, root.level))
    # httpx logs every request at INFO; the worker's own line per action says more.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
