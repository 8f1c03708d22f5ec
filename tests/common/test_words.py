"""Words for people: plurals and elapsed times."""

from __future__ import annotations

import pytest

from common.words import elapsed, plural


def test_plural() -> None:
    assert [plural(1, "event"), plural(2, "event"), plural(2, "entry", "entries")] == [
        "1 event", "2 events", "2 entries"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("ms", "said"),
    [(0, "+0 ms"), (850, "+850 ms"), (12_500, "+12.5 s"), (200_000, "+3 min 20 s"),
     (180_000, "+3 min"), (7_500_000, "+2 h 5 min"), (7_200_000, "+2 h")],
)  # fmt: skip
def test_elapsed(ms: int, said: str) -> None:
    assert elapsed(ms) == said
