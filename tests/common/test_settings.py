"""Each role reads its own variables on the common base; `run` reads them all, errors together."""

from __future__ import annotations

import pytest

from common.errors import SettingsError
from common.settings import CommonSettings, load
from console.settings import ConsoleSettings
from handlers.worker.settings import WorkerSettings
from kuflow_router.settings import RouterSettings
from receiver.settings import ReceiverSettings


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("http://redis:6379", "must be a Redis URL", id="scheme"),
        pytest.param("redis://:6379/0", "names no host", id="no-host"),
        pytest.param("redis://redis:port/0", "port that is not a number", id="port-text"),
        pytest.param("redis://redis:0/0", "port that is not a number", id="port-zero"),
        pytest.param("redis+sentinel://s1:26379", "must name the service", id="no-service"),
        pytest.param("redis+sentinel:///mymaster", "names no sentinel", id="no-sentinel"),
        pytest.param("redis+sentinel://s1:x/mymaster", "sentinel port", id="sentinel-port"),
        pytest.param("redis+sentinel://s1/mymaster/zero", "database that is not", id="db"),
        pytest.param("redis+sentinel://s1/mymaster?ssl=1", "unknown options", id="option"),
    ],
)
def test_a_bad_redis_url_is_refused_by_every_role(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("ROUTER_REDIS_URL", value)
    for model in (CommonSettings, ReceiverSettings, WorkerSettings, RouterSettings):
        with pytest.raises(SettingsError, match=message):
            load(model)


def test_a_role_reads_only_its_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_WORKER_CONCURRENCY", "many")
    monkeypatch.setenv("ROUTER_MAX_HEADERS", "many")
    assert load(CommonSettings).log_level == "INFO"
    with pytest.raises(SettingsError) as receiver:
        load(ReceiverSettings)
    with pytest.raises(SettingsError) as worker:
        load(WorkerSettings)
    with pytest.raises(SettingsError) as both:
        load(RouterSettings)
    assert "ROUTER_MAX_HEADERS" in str(receiver.value)
    assert "ROUTER_WORKER_CONCURRENCY" not in str(receiver.value)
    assert "ROUTER_WORKER_CONCURRENCY" in str(worker.value)
    assert "ROUTER_MAX_HEADERS" not in str(worker.value)
    assert "ROUTER_MAX_HEADERS" in str(both.value)
    assert "ROUTER_WORKER_CONCURRENCY" in str(both.value)


def test_run_reads_every_variable_with_its_default() -> None:
    settings = load(RouterSettings)
    assert str(settings.rules_file) == "rules.yaml"
    assert settings.worker_concurrency == 10
    assert settings.max_body_bytes == 1024 * 1024
    assert set(RouterSettings.model_fields) == (
        set(ReceiverSettings.model_fields)
        | set(WorkerSettings.model_fields)
        | set(ConsoleSettings.model_fields)
    )


WEAK = [
    ("ROUTER_ADMIN_TOKEN", "short-admin-token", "shorter than 22 characters", "admin-token-short"),
    (
        "ROUTER_ADMIN_TOKEN",
        "replace-me-with-24-random-characters",
        "placeholder",
        "admin-token-placeholder",
    ),
    (
        "ROUTER_WEBHOOK_TOKENS",
        "replace-me-with-24-random-characters",
        "placeholder",
        "webhook-token-placeholder",
    ),
    ("ROUTER_WEBHOOK_BASIC", "kuflow:changeme", "placeholder", "basic-password-placeholder"),
    (
        "ROUTER_REDIS_URL",
        "redis://:replace-me@redis:6379/0",
        "placeholder",
        "redis-password-placeholder",
    ),
]


@pytest.mark.parametrize(
    ("role", "variable", "value", "said"),
    [
        pytest.param(role, variable, value, said, id=f"{role}-{name}")
        for variable, value, said, name in WEAK
        for role in ("receiver", "worker", "console")
        # Only the receiver reads the webhook's credentials.
        if role == "receiver" or not variable.startswith("ROUTER_WEBHOOK")
    ],
)  # fmt: skip
def test_a_weak_or_copied_token_stops_every_role(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, said: str, role: str
) -> None:
    from console.settings import load_settings as console_settings
    from handlers.worker.settings import load_settings as worker_settings
    from receiver.settings import load_settings as receiver_settings

    load = {"receiver": receiver_settings, "worker": worker_settings,
            "console": console_settings}[role]  # fmt: skip
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load()
    assert variable in str(caught.value) and said in str(caught.value)
    assert value not in str(caught.value)
    if "shorter" in said or variable == "ROUTER_ADMIN_TOKEN":
        assert "secrets.token_urlsafe(24)" in str(caught.value)
