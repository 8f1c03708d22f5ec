"""The JSON log line: its fields, and its time as ISO 8601 in UTC to the millisecond."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from common.logs import JsonFormatter


def _line(formatter: JsonFormatter, created: float) -> dict[str, object]:
    record = logging.makeLogRecord(
        {"name": "kuflow_router.receiver", "levelno": logging.INFO, "levelname": "INFO",
         "msg": "event %s", "args": ("received",), "event_id": "e1", "status": 202}
    )  # fmt: skip
    record.created = created
    line = json.loads(formatter.format(record))
    assert isinstance(line, dict)
    return line


@pytest.mark.parametrize(
    "created", [1795792083.0, 1795792083.001, 1795792083.999, 1795792083.9999996, 1795792144.5]
)
def test_the_time_is_what_isoformat_writes_in_utc_to_the_millisecond(created: float) -> None:
    formatter = JsonFormatter()
    _line(formatter, created - 61)  # a line of another second before: nothing of it is kept
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert _line(formatter, created)["time"] == expected


def test_a_line_carries_its_level_logger_message_and_extra_fields() -> None:
    assert _line(JsonFormatter(), 1795792083.25) == {
        "time": "2026-11-27T15:08:03.250+00:00",
        "level": "info",
        "logger": "kuflow_router.receiver",
        "msg": "event received",
        "event_id": "e1",
        "status": 202,
    }
