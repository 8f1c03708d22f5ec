"""Write requirements.image.txt: what the image installs, pinned with the hash of every file PyPI
has for each version, so the image build (`pip install --require-hashes`) takes nothing else.

Usage (from scripts/lock): image_pins.py REPORT.json PIP_VERSION > requirements.image.txt, where
REPORT.json is `pip install --dry-run --report` of the project without extras.
"""

from __future__ import annotations

import json
import sys
import urllib.request

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

INDEX = "https://pypi.org/simple"
ACCEPT = "application/vnd.pypi.simple.v1+json"


def _version_of(filename: str) -> Version | None:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


def hashes(name: str, version: str) -> list[str]:
    """The sha256 of every file the index has for `name` at `version`."""
    url = f"{INDEX}/{canonicalize_name(name)}/"
    request = urllib.request.Request(url, headers={"Accept": ACCEPT})  # noqa: S310 (PyPI, https)
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 (PyPI, https)
        files = json.load(answer)["files"]
    wanted = Version(version)
    found = sorted(f["hashes"]["sha256"] for f in files if _version_of(f["filename"]) == wanted)
    if not found:
        raise SystemExit(f"image_pins: the index has no file of {name} {version}")
    return found


def main() -> None:
    report, pip_version = sys.argv[1], sys.argv[2]
    with open(report, encoding="utf-8") as handle:
        installs = json.load(handle)["install"]
    pins = {
        canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
        for item in installs
        if canonicalize_name(item["metadata"]["name"]) != "kuflow-router"
    }
    pins["pip"] = pip_version
    print("# What the image installs, each file's hash pinned. Made by scripts/lock; do not edit.")
    for name, version in sorted(pins.items()):
        lines = [f"{name}=={version}", *(f"--hash=sha256:{h}" for h in hashes(name, version))]
        print(" \\\n    ".join(lines))


if __name__ == "__main__":
    main()
