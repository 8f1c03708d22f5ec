"""What a bench ran on, and running its sides in turn: these machines are shared and differ by 2x
from day to day, so a figure is only a ratio to a baseline measured in the same run — and the
sides run interleaved (A B A B …), so a noisy moment hits both."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable
from pathlib import Path


def describe() -> str:
    """`2 cores, Intel(R) Xeon(R) …, Python 3.11.7, Linux 6.1` — printed first by every bench."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"machine: {os.cpu_count()} cores, {model}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release().split('-')[0]}")  # fmt: skip


def interleaved(sides: dict[str, Callable[[], float]], rounds: int = 3) -> dict[str, list[float]]:
    """Each side's figure from `rounds` runs, the sides taking turns (A B A B …)."""
    figures: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, run in sides.items():
            figures[name].append(run())
    return figures


def median_spread(values: list[float]) -> tuple[float, float]:
    """The median, and the spread (max - min) as a share of it."""
    middle = statistics.median(values)
    return middle, (max(values) - min(values)) / middle if middle else 0.0


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) process `pid` has used so far. Unlike a rate, CPU per event
    hardly moves with what else the machine runs: it is the steadier figure of a busy day."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
