"""The atheris targets of tests/chaos/fuzz.py, a fixed number of runs each (`-m slow`; needs the
`fuzz` extra: `.venv/bin/pip install -e '.[dev,fuzz]'`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNS = {"event": 300_000, "signature": 300_000, "rules": 30_000, "template": 300_000}


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(RUNS))
def test_fuzz_target_finds_nothing(target: str, tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="install the fuzz extra: pip install -e '.[dev,fuzz]'")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for seed in [ROOT / "rules.yaml", *sorted((ROOT / "examples" / "events").glob("*.json"))]:
        shutil.copy(seed, corpus)
    result = subprocess.run(
        [sys.executable, "-m", "tests.chaos.fuzz", target, str(corpus), f"-runs={RUNS[target]}",
         "-seed=1", f"-artifact_prefix={tmp_path}/"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert not list(tmp_path.glob("crash-*"))
