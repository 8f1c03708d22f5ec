"""deploy/kubernetes/: every manifest valid for Kubernetes 1.32 (strict, with kubernetes-validate),
and consistent with the code — commands the CLI knows, the ports it listens on, variables it
reads, probe paths it serves, a grace period above the worker's, non-root, read-only root."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from console.settings import ConsoleSettings
from handlers.rules.loader import load_text
from handlers.rules.source import Placeholders
from handlers.worker.app import GRACE_S
from handlers.worker.settings import WorkerSettings
from kuflow_router.cli import _parser
from kuflow_router.console_command import DEFAULT_PORT
from kuflow_router.settings import RouterSettings
from receiver.app import create_app
from receiver.settings import ReceiverSettings
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = "1.32.0"
DOCUMENTS = [
    (path.name, document)
    for path in sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
    for document in yaml.safe_load_all(path.read_text())
]


def _containers() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [
        (name, doc, container)
        for name, doc in DOCUMENTS
        if doc["kind"] == "Deployment"
        for container in doc["spec"]["template"]["spec"]["containers"]
    ]


@pytest.mark.parametrize(
    ("name", "document"), DOCUMENTS, ids=[f"{n}:{d['kind']}" for n, d in DOCUMENTS]
)
def test_every_manifest_is_valid_kubernetes(name: str, document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_the_containers_run_what_the_code_has() -> None:
    parser = _parser()
    ports = {"serve": 8000, "console": DEFAULT_PORT}
    images = set()
    for _, doc, container in _containers():
        images.add(container["image"])
        args = parser.parse_args(container["args"])  # a command and flags the CLI knows
        command = container["args"][0]
        if command in ports:
            assert [p["containerPort"] for p in container["ports"]] == [ports[command]]
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
        assert doc["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]
        assert args.handler is not None
    assert len(images) == 1  # one image, every role


def test_the_probes_are_paths_the_receiver_serves() -> None:
    served = {route.path for route in create_app(make_settings("redis://unused")).routes}  # type: ignore[attr-defined]
    for _, _, container in _containers():
        for probe in ("readinessProbe", "livenessProbe"):
            path = container.get(probe, {}).get("httpGet", {}).get("path")
            if path:
                assert path in served
    (worker,) = [c for _, _, c in _containers() if c["args"][0] == "worker"]
    assert worker["livenessProbe"]["exec"]["command"] == ["kuflow-router", "worker", "--check"]


def test_every_variable_is_one_the_router_or_the_rules_read() -> None:
    (rules,) = [d for _, d in DOCUMENTS if d["kind"] == "ConfigMap"]
    text = rules["data"]["rules.yaml"]
    load_text(text, "rules.yaml", Placeholders({}))  # the example rules load
    read_by_rules = set(re.findall(r"\$\{([A-Z_]+)\}", text))
    settings = {"ROUTER_" + name.upper() for name in RouterSettings.model_fields}
    names = {n for _, d in DOCUMENTS if d["kind"] == "Secret" for n in d["stringData"]}
    for _, _, container in _containers():
        names |= {e["name"] for e in container.get("env", [])}
    names -= {"PYTHONDONTWRITEBYTECODE"}
    assert {n for n in names if not n.startswith("ROUTER_")} == read_by_rules
    assert {n for n in names if n.startswith("ROUTER_")} <= settings


ROLE_SETTINGS = {"serve": ReceiverSettings, "worker": WorkerSettings, "console": ConsoleSettings}


def test_each_role_gets_a_secret_of_its_own_with_only_what_it_reads() -> None:
    secrets = {
        d["metadata"]["name"]: d["stringData"] for _, d in DOCUMENTS if d["kind"] == "Secret"
    }
    (rules,) = [d for _, d in DOCUMENTS if d["kind"] == "ConfigMap"]
    read_by_rules = set(re.findall(r"\$\{([A-Z_]+)\}", rules["data"]["rules.yaml"]))
    used = set()
    for _, doc, container in _containers():
        command = container["args"][0]
        (source,) = container["envFrom"]
        name = source["secretRef"]["name"]
        used.add(name)
        reads = {"ROUTER_" + field.upper() for field in ROLE_SETTINGS[command].model_fields}
        if command == "worker":
            reads |= read_by_rules  # the APIs' credentials: the worker's alone
        assert set(secrets[name]) <= reads, (command, set(secrets[name]) - reads)
        pod = doc["spec"]["template"]["spec"]["securityContext"]
        assert pod["runAsUser"] == pod["runAsGroup"] == 10001
    assert used == set(secrets) and len(used) == 3
    assert "ROUTER_WEBHOOK_TOKENS" not in secrets["kuflow-router-worker"]
    assert not read_by_rules & (
        set(secrets["kuflow-router-console"]) | set(secrets["kuflow-router-receiver"])
    )


def test_a_default_deny_network_policy_with_allow_rules() -> None:
    policies = {
        d["metadata"]["name"]: d["spec"] for _, d in DOCUMENTS if d["kind"] == "NetworkPolicy"
    }
    deny = policies["kuflow-router-default-deny"]
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny  # nothing allowed by it
    allowed_in = {
        (spec["podSelector"]["matchLabels"].get("app.kubernetes.io/component", "*"), port["port"])
        for spec in policies.values()
        for rule in spec.get("ingress", [])
        for port in rule["ports"]
    }
    assert allowed_in == {("receiver", 8000), ("*", 8000), ("*", 9100)}  # no console from pods
    out_ports = {port["port"] for spec in policies.values() for rule in spec.get("egress", [])
                 for port in rule["ports"]}  # fmt: skip
    assert out_ports == {6379, 26379, 53, 443}


def test_the_worker_has_time_to_finish_and_the_receiver_a_budget() -> None:
    (worker,) = [
        d for _, d in DOCUMENTS if d["kind"] == "Deployment" and "worker" in d["metadata"]["name"]
    ]
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > GRACE_S
    assert any(d["kind"] == "PodDisruptionBudget" for _, d in DOCUMENTS)
