"""The receiver's HTTP contract (SPEC §3), row by row, through the ASGI app and a real Redis."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis
from prometheus_client import REGISTRY

from receiver.app import create_app
from receiver.auth import sign_headers
from store import keys
from tests.conftest import BASIC, OLD_SECRET, SECRET, TOKEN, make_event, make_settings, serve_app

URL = "/webhooks/kuflow"
JSON = {"content-type": "application/json"}


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def signed(body: bytes, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if at is None else at)
    return {**JSON, **sign_headers(secret, "msg_1", timestamp, body)}


def basic(user: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {**JSON, "authorization": f"Basic {encoded}"}


def queued_ids(rdb: redis.Redis) -> list[str]:
    return [member.decode() for member in rdb.zrange(keys.QUEUE, 0, -1)]


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert set(problem) >= {"type", "title", "status", "detail"}
    return problem


# -- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        pytest.param(f"{URL}/{TOKEN}", JSON, id="token"),
        pytest.param(URL, basic(*BASIC), id="basic"),
        pytest.param(URL, None, id="hmac"),
        pytest.param(URL, "old-secret", id="hmac-rotated-secret"),
        pytest.param(f"{URL}/wrong-token", None, id="hmac-beats-wrong-token"),
    ],
)
@pytest.mark.anyio
async def test_each_auth_mode_accepts(
    app_client: Callable[..., Any], rdb: redis.Redis, path: str, headers: Any
) -> None:
    event = make_event()
    body = body_of(event)
    if headers is None:
        headers = signed(body)
    elif headers == "old-secret":
        headers = signed(body, OLD_SECRET)
    async with app_client() as client:
        response = await client.post(path, content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json() == {"id": event["id"], "status": "queued"}
    assert queued_ids(rdb) == [event["id"]]


def _tamper(case: str, body: bytes) -> tuple[str, dict[str, str], bytes]:
    other_secret = "whsec_" + base64.b64encode(b"x" * 32).decode()
    now = time.time()
    cases: dict[str, tuple[str, dict[str, str], bytes]] = {
        "no-credentials": (URL, JSON, body),
        "wrong-token": (f"{URL}/not-the-token", JSON, body),
        "wrong-basic-password": (URL, basic(BASIC[0], "nope"), body),
        "wrong-basic-user": (URL, basic("mallory", BASIC[1]), body),
        "bearer-not-basic": (URL, {**JSON, "authorization": f"Bearer {TOKEN}"}, body),
        "wrong-secret": (URL, signed(body, other_secret), body),
        # 30 s past the 300 s tolerance: a loaded machine's setup may take a second or two.
        "stale-timestamp": (URL, signed(body, at=now - 330), body),
        "future-timestamp": (URL, signed(body, at=now + 330), body),
        "signature-over-other-body": (URL, signed(body + b" "), body),
        "signature-without-timestamp": (
            URL,
            {k: v for k, v in signed(body).items() if k != "webhook-timestamp"},
            body,
        ),
        "signature-without-id": (
            URL,
            {k: v for k, v in signed(body).items() if k != "webhook-id"},
            body,
        ),
        "unknown-signature-version": (
            URL,
            {
                **signed(body),
                "webhook-signature": signed(body)["webhook-signature"].replace("v1", "v2"),
            },
            body,
        ),
    }
    return cases[case]


@pytest.mark.parametrize(
    "case",
    [
        "no-credentials",
        "wrong-token",
        "wrong-basic-password",
        "wrong-basic-user",
        "bearer-not-basic",
        "wrong-secret",
        "stale-timestamp",
        "future-timestamp",
        "signature-over-other-body",
        "signature-without-timestamp",
        "signature-without-id",
        "unknown-signature-version",
    ],
)
@pytest.mark.anyio
async def test_auth_rejected_changes_nothing(
    app_client: Callable[..., Any], rdb: redis.Redis, case: str
) -> None:
    path, headers, body = _tamper(case, body_of(make_event()))
    async with app_client() as client:
        response = await client.post(path, content=body, headers=headers)
    problem = assert_problem(response, 401)
    assert problem["detail"] == "The request is not authenticated for this webhook endpoint."
    assert response.headers["www-authenticate"] == 'Basic realm="kuflow-router"'
    assert rdb.dbsize() == 0


@pytest.mark.anyio
async def test_tolerance_is_configurable(app_client: Callable[..., Any], rdb: redis.Redis) -> None:
    body = body_of(make_event())
    async with app_client(signature_tolerance_s=3600) as client:
        response = await client.post(URL, content=body, headers=signed(body, at=time.time() - 1800))
    assert response.status_code == 202


@pytest.mark.anyio
async def test_insecure_mode_accepts_without_credentials(
    app_client: Callable[..., Any], rdb: redis.Redis
) -> None:
    async with app_client(
        webhook_tokens="", webhook_basic="", webhook_secrets="", insecure_no_auth=True
    ) as client:
        response = await client.post(URL, content=body_of(make_event()), headers=JSON)
    assert response.status_code == 202


# -- content type, size, body -------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param(None, id="missing"),
        pytest.param("text/plain", id="text"),
        pytest.param("application/x-www-form-urlencoded", id="form"),
        pytest.param("application/jsonx", id="lookalike"),
    ],
)
@pytest.mark.anyio
async def test_content_type_not_json_is_415(
    app_client: Callable[..., Any], rdb: redis.Redis, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    async with app_client() as client:
        response = await client.post(
            f"{URL}/{TOKEN}", content=body_of(make_event()), headers=headers
        )
    assert_problem(response, 415)
    assert rdb.dbsize() == 0


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "APPLICATION/JSON", "application/cloudevents+json"],
)
@pytest.mark.anyio
async def test_json_content_type_variants_accepted(
    app_client: Callable[..., Any], rdb: redis.Redis, content_type: str
) -> None:
    async with app_client() as client:
        response = await client.post(
            f"{URL}/{TOKEN}", content=body_of(make_event()), headers={"content-type": content_type}
        )
    assert response.status_code == 202


@pytest.mark.anyio
async def test_body_over_limit_is_413(app_client: Callable[..., Any], rdb: redis.Redis) -> None:
    event = make_event(padding="x" * 2000)
    async with app_client(max_body_bytes=1000) as client:
        response = await client.post(f"{URL}/{TOKEN}", content=body_of(event), headers=JSON)
    assert_problem(response, 413)
    assert rdb.dbsize() == 0


@pytest.mark.anyio
async def test_body_at_limit_is_accepted(app_client: Callable[..., Any], rdb: redis.Redis) -> None:
    event = make_event()
    body = body_of(event)
    async with app_client(max_body_bytes=len(body)) as client:
        response = await client.post(f"{URL}/{TOKEN}", content=body, headers=JSON)
    assert response.status_code == 202


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "locs"),
    [
        pytest.param(b"{not json", ["(body)"], id="malformed-json"),
        pytest.param(b"", ["(body)"], id="empty"),
        pytest.param(b"[1, 2]", ["(body)"], id="array"),
        pytest.param(b"\xff\xfe{}", ["(body)"], id="not-utf8"),
        pytest.param(
            body_of({k: v for k, v in make_event().items() if k != "id"}), ["id"], id="no-id"
        ),
        pytest.param(body_of(make_event(id="not-a-uuid")), ["id"], id="id-not-uuid"),
        pytest.param(body_of(make_event(id=12)), ["id"], id="id-number"),
        pytest.param(body_of(make_event(timestamp="yesterday")), ["timestamp"], id="ts-text"),
        pytest.param(body_of(make_event(timestamp=1718359200)), ["timestamp"], id="ts-epoch"),
        pytest.param(body_of(make_event(timestamp="2024-06-14")), ["timestamp"], id="ts-date"),
        pytest.param(
            body_of(make_event(timestamp="2024-06-14T10:00:00")), ["timestamp"], id="ts-no-zone"
        ),
        pytest.param(
            body_of(make_event(timestamp="2024-13-14T10:00:00Z")), ["timestamp"], id="ts-month-13"
        ),
        pytest.param(body_of(make_event(data="x")), ["data"], id="data-not-object"),
        pytest.param(
            body_of(make_event(data={})), ["data.processId", "data.processState"], id="data-empty"
        ),
        pytest.param(
            body_of(make_event(data={"processId": "nope", "processState": 1})),
            ["data.processId", "data.processState"],
            id="data-mistyped",
        ),
        pytest.param(
            body_of(
                make_event(
                    "PROCESS_ITEM.TASK_STATE_CHANGED",
                    data={"processId": "0b8c7a3e-5d5f-4b7a-9f0e-2f6c1d9e8a11"},
                )
            ),
            [
                "data.processItemId",
                "data.processItemType",
                "data.processItemState",
                "data.processItemDefinitionCode",
            ],
            id="task-state-changed-missing-fields",
        ),
    ],
)
@pytest.mark.anyio
async def test_invalid_event_is_400_with_field_errors(
    app_client: Callable[..., Any], rdb: redis.Redis, body: bytes, locs: list[str]
) -> None:
    async with app_client() as client:
        response = await client.post(f"{URL}/{TOKEN}", content=body, headers=JSON)
    problem = assert_problem(response, 400)
    assert [error["loc"] for error in problem["errors"]] == locs
    assert all(error["msg"] for error in problem["errors"])
    assert rdb.dbsize() == 0


@pytest.mark.anyio
async def test_400_never_echoes_the_body(app_client: Callable[..., Any], rdb: redis.Redis) -> None:
    marker = "SECRET-CUSTOMER-DATA-4711"
    event = make_event(id=marker, data={"processId": marker, "processState": marker})
    async with app_client() as client:
        response = await client.post(f"{URL}/{TOKEN}", content=body_of(event), headers=JSON)
    assert response.status_code == 400
    assert marker not in response.text


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(make_event("PROCESS.CREATED"), id="process-created"),
        pytest.param(make_event("PROCESS.STATE_CHANGED"), id="process-state-changed"),
        pytest.param(make_event("PROCESS_ITEM.CREATED"), id="process-item-created"),
        pytest.param(make_event("PROCESS_ITEM.TASK_STATE_CHANGED"), id="task-state-changed"),
        pytest.param(make_event("PROCESS.ARCHIVED"), id="unknown-type"),
        pytest.param(
            make_event(
                data={"processId": "0b8c7a3e-5d5f-4b7a-9f0e-2f6c1d9e8a11", "processState": "PAUSED"}
            ),
            id="unknown-enum-value",
        ),
        pytest.param(make_event(tenantId="t-1", extra={"nested": [1, 2]}), id="unknown-fields"),
    ],
)
@pytest.mark.anyio
async def test_valid_and_forward_compatible_events_are_queued_verbatim(
    app_client: Callable[..., Any], rdb: redis.Redis, event: dict[str, Any]
) -> None:
    body = body_of(event)
    async with app_client() as client:
        response = await client.post(f"{URL}/{TOKEN}", content=body, headers=JSON)
    assert response.status_code == 202
    assert queued_ids(rdb) == [event["id"]]
    record = rdb.hgetall(keys.event(event["id"]))
    assert record[b"status"] == b"queued"
    assert record[b"type"] == event["type"].encode()


@pytest.mark.anyio
async def test_event_id_is_normalised_for_dedup(
    app_client: Callable[..., Any], rdb: redis.Redis
) -> None:
    event = make_event()
    upper = {**event, "id": event["id"].upper()}
    async with app_client() as client:
        first = await client.post(f"{URL}/{TOKEN}", content=body_of(upper), headers=JSON)
        second = await client.post(f"{URL}/{TOKEN}", content=body_of(event), headers=JSON)
    assert first.json() == {"id": event["id"], "status": "queued"}
    assert second.json() == {"id": event["id"], "status": "duplicate"}


# -- dedup and queue ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_same_event_twice_is_one_job(
    app_client: Callable[..., Any], rdb: redis.Redis
) -> None:
    event = make_event()
    async with app_client() as client:
        first = await client.post(f"{URL}/{TOKEN}", content=body_of(event), headers=JSON)
        second = await client.post(f"{URL}/{TOKEN}", content=body_of(event), headers=JSON)
    assert (first.status_code, first.json()["status"]) == (202, "queued")
    assert (second.status_code, second.json()["status"]) == (202, "duplicate")
    assert queued_ids(rdb) == [event["id"]]


@pytest.mark.anyio
async def test_dedup_and_event_ttls_follow_settings(
    app_client: Callable[..., Any], rdb: redis.Redis
) -> None:
    event = make_event()
    async with app_client(dedup_ttl_s=600, event_ttl_s=1200) as client:
        await client.post(f"{URL}/{TOKEN}", content=body_of(event), headers=JSON)
    assert 590 <= rdb.ttl(keys.seen(event["id"])) <= 600
    assert 1190 <= rdb.ttl(keys.event(event["id"])) <= 1200
    assert 1190 <= rdb.ttl(keys.job(event["id"])) <= 1200


@pytest.mark.anyio
async def test_redis_unreachable_is_503_with_retry_after(
    app_client: Callable[..., Any], rdb: redis.Redis
) -> None:
    from kuflow_router.redis_server import free_port

    async with app_client(redis_url=f"redis://127.0.0.1:{free_port()}/0") as client:
        response = await client.post(f"{URL}/{TOKEN}", content=body_of(make_event()), headers=JSON)
        ready = await client.get("/readyz")
    assert_problem(response, 503)
    assert int(response.headers["retry-after"]) > 0
    assert ready.status_code == 503


@pytest.mark.anyio
async def test_the_log_says_what_an_operator_can_act_on(
    app_client: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Redis's address at start and on a failed enqueue, the event id of a 503, and why a
    400 was refused — the sender's own `loc: msg`, never the body."""
    from kuflow_router.redis_server import free_port

    port = free_port()
    event = make_event()
    secret_value = "a-value-only-the-body-holds"
    bad = {**make_event(), "data": {"processState": secret_value}}
    with caplog.at_level(logging.INFO):
        async with app_client(redis_url=f"redis://127.0.0.1:{port}/0") as client:
            await client.post(f"{URL}/{TOKEN}", content=body_of(event), headers=JSON)
            await client.post(f"{URL}/{TOKEN}", content=json.dumps(bad), headers=JSON)
    said = {r.getMessage(): r for r in caplog.records}
    assert any(f"Redis at 127.0.0.1:{port} does not answer" in m for m in said)
    assert any(f"enqueue failed: Redis at 127.0.0.1:{port}" in m for m in said)
    received = [r for r in caplog.records if r.getMessage() == "event received"]
    unavailable = next(r for r in received if r.status == 503)  # type: ignore[attr-defined]
    assert unavailable.event_id == event["id"]  # type: ignore[attr-defined]
    invalid = next(r for r in received if r.status == 400)  # type: ignore[attr-defined]
    assert "data.processId" in invalid.reason  # type: ignore[attr-defined]
    assert secret_value not in caplog.text


# -- other endpoints ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_health_ready_and_metrics(app_client: Callable[..., Any], rdb: redis.Redis) -> None:
    async with app_client() as client:
        await client.post(f"{URL}/{TOKEN}", content=body_of(make_event()), headers=JSON)
        await client.post(f"{URL}/{TOKEN}", content=b"{", headers=JSON)
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/readyz")).json() == {"status": "ready"}
        text = (await client.get("/metrics")).text
    assert 'router_events_received_total{outcome="queued",type="PROCESS.CREATED"}' in text
    assert 'router_events_received_total{outcome="invalid",type="none"}' in text
    assert "router_queue_depth 1.0" in text


@pytest.mark.anyio
async def test_metrics_behind_admin_token_when_set(
    app_client: Callable[..., Any], rdb: redis.Redis
) -> None:
    async with app_client(admin_token="adm-0123456789-0123456789") as client:
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"authorization": "Bearer nope"})
        right = await client.get(
            "/metrics", headers={"authorization": "Bearer adm-0123456789-0123456789"}
        )
    assert wrong.status_code == 401
    assert right.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", URL, 405, id="get-webhook"),
        pytest.param("POST", "/elsewhere", 404, id="unknown-path"),
        pytest.param("POST", f"{URL}/{TOKEN}/extra", 404, id="extra-segment"),
    ],
)
@pytest.mark.anyio
async def test_routing_errors_are_problems(
    app_client: Callable[..., Any], rdb: redis.Redis, method: str, path: str, status: int
) -> None:
    async with app_client() as client:
        response = await client.request(method, path, headers=JSON, content=b"{}")
    assert_problem(response, status)


@pytest.mark.anyio
async def test_deeply_nested_json_is_a_400_not_a_crash(
    app_client: Callable[..., Any], rdb: redis.Redis
) -> None:
    event = make_event()
    nested = "[" * 200_000 + "]" * 200_000
    body = json.dumps(event)[:-1] + f', "deep": {nested}}}'
    async with app_client() as client:
        response = await client.post(f"{URL}/{TOKEN}", content=body, headers=JSON)
    assert response.status_code == 400
    assert rdb.dbsize() == 0


@pytest.mark.anyio
async def test_metrics_without_an_admin_token_answer_only_this_machine(redis_url: str) -> None:
    app = create_app(make_settings(redis_url))
    outside = httpx.ASGITransport(app=app, client=("203.0.113.7", 4242))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=outside, base_url="http://router.test") as client,
    ):
        refused = await client.get("/metrics")
    assert refused.status_code == 403
    assert "ROUTER_ADMIN_TOKEN" in refused.json()["detail"]
    async with serve_app(app) as local:  # httpx's test client comes from 127.0.0.1
        assert (await local.get("/metrics")).status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("age_s", "status"),
    [pytest.param(3600 + 60, 400, id="older-than-the-window"),
     pytest.param(3600 - 60, 202, id="inside-the-window"),
     pytest.param(-(300 + 60), 400, id="ahead-beyond-the-clock-tolerance"),
     pytest.param(-(300 - 60), 202, id="ahead-within-the-clock-tolerance")],
)  # fmt: skip
async def test_an_event_older_than_the_dedup_window_is_refused_as_a_replay(
    app_client: Callable[..., Any], rdb: redis.Redis, age_s: int, status: int
) -> None:
    sent = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - age_s))
    event = make_event(timestamp=sent)
    before = (
        REGISTRY.get_sample_value(
            "router_events_received_total", {"type": "none", "outcome": "stale"}
        )
        or 0.0
    )
    async with app_client(dedup_ttl_s=3600) as client:
        answer = await client.post(f"{URL}/{TOKEN}", content=json.dumps(event), headers=JSON)
    assert answer.status_code == status
    after = (
        REGISTRY.get_sample_value(
            "router_events_received_total", {"type": "none", "outcome": "stale"}
        )
        or 0.0
    )
    if status == 400:
        said = "possible replay" if age_s > 0 else "ahead of this server's clock"
        assert said in answer.json()["detail"]
        assert after == before + 1
        assert rdb.zcard(keys.QUEUE) == 0 and not rdb.exists(keys.seen(event["id"]))
    else:
        assert rdb.zcard(keys.QUEUE) == 1
