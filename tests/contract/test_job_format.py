"""The job format: JSON written, JSON read, and nothing read from Redis ever runs code."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.job_format import JOB_FUNCTION, REFUSED_FUNCTION, decode_job, encode_job


class _Planted:
    """What an attacker pickles: unpickling it would call os.system."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (self.command,))


def planted_pickle(marker: Path) -> bytes:
    """A job-shaped pickle whose loading would create `marker`."""
    job = {"t": None, "f": JOB_FUNCTION, "a": (_Planted(f"touch {marker}"), 0), "k": {}, "et": 0}
    return pickle.dumps(job)


def test_a_job_is_plain_json_that_decodes_to_itself() -> None:
    body = json.dumps({"id": "x", "naïve": "ünïcode"}).encode()
    payload = encode_job(body, 1718359200000)
    assert json.loads(payload) == {
        "t": None, "f": JOB_FUNCTION, "a": [body.decode(), 1718359200000], "k": {}, "et": 1718359200000
    }  # fmt: skip
    assert decode_job(payload) == json.loads(payload)


def test_a_planted_pickle_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    job = decode_job(planted_pickle(marker))
    assert not marker.exists()
    assert job["f"] == REFUSED_FUNCTION
    reason, _excerpt = job["a"]
    assert "nothing in it was run" in reason
    assert "system" in reason  # names what it tried to call


def test_a_job_queued_by_the_previous_version_still_runs() -> None:
    """The upgrade path: arq's pickle of our own job, which holds only data, is read as data."""
    body = b'{"id": "0b8c7a3e-5d5f-4b7a-9f0e-2f6c1d9e8a11"}'
    legacy = pickle.dumps({"t": None, "f": JOB_FUNCTION, "a": (body, 5), "k": {}, "et": 5})
    assert decode_job(legacy) == {
        "t": None, "f": JOB_FUNCTION, "a": [body.decode(), 5], "k": {}, "et": 5
    }  # fmt: skip


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(b"[1, 2]", id="not-an-object"),
        pytest.param(b'{"f": "process_event"}', id="missing-fields"),
        pytest.param(
            b'{"t": null, "f": "shutdown", "a": ["{}", 0], "k": {}, "et": 0}', id="other-function"
        ),
        pytest.param(
            b'{"t": null, "f": "process_event", "a": ["{}"], "k": {}, "et": 0}', id="one-arg"
        ),
        pytest.param(
            b'{"t": null, "f": "process_event", "a": ["{}", 0], "k": {"x": 1}, "et": 0}',
            id="keyword-args",
        ),
        pytest.param(b"\x80\x04not a pickle", id="broken-pickle"),
        pytest.param(pickle.dumps({"t": None, "f": "x"}), id="pickle-wrong-shape"),
    ],
)
def test_anything_else_is_refused_with_a_reason(payload: bytes) -> None:
    job = decode_job(payload)
    assert job["f"] == REFUSED_FUNCTION
    assert job["a"][0]


@given(st.binary(max_size=300))
def test_no_payload_makes_the_decoder_raise(payload: bytes) -> None:
    assert decode_job(payload)["f"] in (JOB_FUNCTION, REFUSED_FUNCTION)


def test_a_job_carries_the_trace_it_continues_and_nothing_else() -> None:
    trace = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    job = decode_job(encode_job(b'{"id": "e"}', 7, trace))
    assert job["f"] == JOB_FUNCTION and job["k"] == {"trace": trace}
    for kwargs in ({"trace": {"baggage": "x"}}, {"trace": trace, "other": 1},
                   {"trace": {"traceparent": "x" * 600}}):  # fmt: skip
        payload = json.dumps({"t": None, "f": JOB_FUNCTION, "a": ["{}", 7], "k": kwargs, "et": 7})
        refused = decode_job(payload.encode())
        assert refused["f"] == REFUSED_FUNCTION, kwargs
        assert "keyword arguments" in refused["a"][0]
