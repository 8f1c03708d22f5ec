"""Property: no body or header combination makes the receiver fail (5xx) or enqueue a bad event."""

from __future__ import annotations

import base64
import json
import string
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.events import NotAnEvent, parse_event
from receiver.app import create_app
from store import keys
from tests.conftest import BASIC, TOKEN, make_event, make_settings, serve_app

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def event_like(draw: st.DrawFn) -> bytes:
    """A valid event with some fields dropped or replaced by arbitrary JSON."""
    event: dict[str, Any] = make_event(
        draw(st.sampled_from(["PROCESS.CREATED", "PROCESS_ITEM.CREATED", "X.Y"]))
    )
    for key in draw(st.lists(st.sampled_from(sorted(event)), max_size=3)):
        if draw(st.booleans()):
            event.pop(key, None)
        else:
            event[key] = draw(json_values)
    if draw(st.booleans()) and isinstance(event.get("data"), dict):
        event["data"][draw(st.sampled_from(["processId", "processState", "x"]))] = draw(json_values)
    return json.dumps(event).encode()


bodies = st.one_of(
    st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()), event_like()
)
header_text = st.text(alphabet=string.printable.strip() + " ", max_size=40)
auth_headers = st.one_of(
    st.just({}),
    st.just(
        {"authorization": "Basic " + base64.b64encode(f"{BASIC[0]}:{BASIC[1]}".encode()).decode()}
    ),
    header_text.map(lambda v: {"authorization": v}),
    st.fixed_dictionaries(
        {
            "webhook-id": header_text,
            "webhook-timestamp": header_text,
            "webhook-signature": header_text,
        }
    ),
)
content_types = st.one_of(
    st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain"]),
    header_text,
)


@pytest.fixture
def portal_client(redis_url: str) -> Iterator[tuple[BlockingPortal, httpx.AsyncClient]]:
    with start_blocking_portal() as portal:
        app = create_app(make_settings(redis_url, max_body_bytes=2000))
        with portal.wrap_async_context_manager(serve_app(app)) as client:
            yield portal, client


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=bodies,
    auth=auth_headers,
    content_type=content_types,
    path=st.sampled_from(["/webhooks/kuflow", f"/webhooks/kuflow/{TOKEN}", "/webhooks/kuflow/x"]),
)
def test_never_5xx_and_never_enqueues_what_was_refused(
    portal_client: tuple[BlockingPortal, httpx.AsyncClient],
    rdb: redis.Redis,
    body: bytes,
    auth: dict[str, str],
    content_type: str,
    path: str,
) -> None:
    portal, client = portal_client
    before = rdb.zcard(keys.QUEUE)
    headers = {**auth, "content-type": content_type}
    response = portal.call(lambda: client.post(path, content=body, headers=headers))
    assert response.status_code in {202, 400, 401, 413, 415}, response.text
    after = rdb.zcard(keys.QUEUE)
    if response.status_code != 202:
        assert after == before
        return
    try:
        parse_event(body)
    except NotAnEvent:  # pragma: no cover - would be a bug
        pytest.fail("a 202 was given to an invalid event")
