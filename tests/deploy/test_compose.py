"""compose.yaml and deploy/compose.ha.yaml: the structure `docker compose config` would accept
(no Docker engine here), and consistent with the code — commands the CLI knows, variables it
reads, a Sentinel URL naming the sentinels and the service they monitor, a replica of the
primary."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.redis_url import parse_sentinel
from kuflow_router.cli import _parser
from kuflow_router.redis_server import free_port
from kuflow_router.settings import RouterSettings
from tests.ha import _data_node

ROOT = Path(__file__).resolve().parents[2]
FILES = {
    "compose.yaml": ROOT / "compose.yaml",
    "compose.ha.yaml": ROOT / "deploy" / "compose.ha.yaml",
}
TOP = {"services", "volumes", "networks", "configs", "secrets", "name", "include"}
SERVICE = {
    "image", "build", "command", "entrypoint", "environment", "env_file", "ports", "volumes",
    "depends_on", "healthcheck", "stop_grace_period", "deploy", "restart", "networks", "user",
    "read_only", "tmpfs", "labels", "logging", "expose", "secrets", "configs",
}  # fmt: skip
HEALTHCHECK = {"test", "interval", "timeout", "start_period", "retries", "disable"}


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(FILES[name].read_text())  # anchors, `<<` merged
    return document


@pytest.mark.parametrize("name", list(FILES))
def test_every_key_is_one_compose_knows_and_every_reference_resolves(name: str) -> None:
    document = load(name)
    assert {k for k in document if not k.startswith("x-")} <= TOP
    services = document["services"]
    for service_name, service in services.items():
        assert set(service) <= SERVICE, (service_name, set(service) - SERVICE)
        assert ("image" in service) or ("build" in service), service_name
        for needed in service.get("depends_on", {}):
            assert needed in services, (service_name, needed)
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in document.get("volumes", {}), (service_name, source)
        assert set(service.get("healthcheck", {})) <= HEALTHCHECK
        if "build" in service:
            context = (FILES[name].parent / service["build"]).resolve()
            assert (context / "Dockerfile").is_file(), service_name
            for mount in service.get("volumes", []):
                if mount.startswith("."):
                    assert (FILES[name].parent / mount.split(":", 1)[0]).exists(), mount


@pytest.mark.parametrize("name", list(FILES))
def test_router_services_use_commands_and_variables_of_the_code(name: str) -> None:
    commands = set(_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    variables = {f"ROUTER_{field.upper()}" for field in RouterSettings.model_fields}
    routers = {n: s for n, s in load(name)["services"].items() if "build" in s}
    assert {s["command"][0] for s in routers.values()} == {"serve", "worker"}
    for service in routers.values():
        assert service["command"][0] in commands
        assert set(service.get("environment", {})) <= variables


def test_the_ha_routers_find_the_primary_through_the_three_sentinels() -> None:
    document = load("compose.ha.yaml")
    services = document["services"]
    sentinels = sorted(n for n in services if n.startswith("sentinel-"))
    assert len(sentinels) == 3
    for name in ("receiver", "worker"):
        environment = services[name]["environment"]
        url = environment["ROUTER_REDIS_URL"].replace("${REDIS_PASSWORD}", "secret")
        target = parse_sentinel(url)
        assert sorted(host for host, _ in target.sentinels) == sentinels
        assert {port for _, port in target.sentinels} == {26379}
        assert target.password == "secret" and target.db == 0
        assert int(environment["ROUTER_REDIS_MIN_REPLICAS"]) == 1
        assert services[name]["deploy"]["replicas"] == 2
    script = services["sentinel-1"]["command"][-1]
    monitored = re.search(r"sentinel monitor (\S+) (\S+) (\d+) (\d+)", script)
    assert monitored is not None
    assert monitored.group(1) == target.service and monitored.group(2) == "redis-primary"
    assert int(monitored.group(4)) == 2  # a quorum of two of the three
    assert "--replicaof redis-primary 6379" in " ".join(services["redis-replica"]["command"])
    assert services["sentinel-1"] == services["sentinel-3"]


def test_a_data_node_becomes_promotable_only_once_in_sync(tmp_path: Path) -> None:
    """The snippet compose.ha.yaml runs beside each redis-server, against a real replica."""
    cli = shutil.which("redis-cli")
    if cli is None:
        pytest.skip("no redis-cli on this machine")
    services = load("compose.ha.yaml")["services"]
    script = services["redis-replica"]["environment"]["PROMOTABLE_ONCE_IN_SYNC"]
    for name in ("redis-primary", "redis-replica"):
        command = " ".join(services[name]["command"])
        assert '"$$PROMOTABLE_ONCE_IN_SYNC" &' in command and "--replica-priority 0" in command
    primary = _data_node(tmp_path / "a", free_port())
    replica = _data_node(tmp_path / "b", free_port(), primary.port)
    replica.args += ["--replica-priority", "0"]
    wrapper = tmp_path / "bin" / "redis-cli"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec {cli} -p {replica.port} "$@"\n')
    wrapper.chmod(0o755)
    try:
        primary.start()
        replica.start()
        env = {**os.environ, "PATH": f"{wrapper.parent}:{os.environ['PATH']}"}
        subprocess.run(["sh", "-c", script], env=env, timeout=60, check=True,
                       capture_output=True)  # fmt: skip
        priority = replica.client().config_get("replica-priority")["replica-priority"]
    finally:
        primary.kill()
        replica.kill()
    assert priority == "100"
