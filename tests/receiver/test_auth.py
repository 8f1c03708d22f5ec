"""The auth module on its own: Standard Webhooks signatures and the header pre-check."""

from __future__ import annotations

import base64

import pytest

from receiver.auth import AuthConfig, Verdict, check_headers, check_signature, sign_headers
from receiver.errors import Unauthorized
from receiver.settings import decode_webhook_secret

# The Standard Webhooks specification's published example.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_matches_the_standard_webhooks_example() -> None:
    headers = sign_headers(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert headers["webhook-signature"] == SPEC_SIGNATURE


def _config(**kwargs: object) -> AuthConfig:
    return AuthConfig(**kwargs)  # type: ignore[arg-type]


def test_any_listed_signature_may_match() -> None:
    config = _config(keys=(decode_webhook_secret(SPEC_SECRET),))
    headers = sign_headers(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    headers["webhook-signature"] = "v1,bm90LWl0 " + headers["webhook-signature"]
    check_signature(config, headers, SPEC_BODY)


def test_signature_is_over_the_exact_bytes() -> None:
    config = _config(keys=(decode_webhook_secret(SPEC_SECRET),))
    headers = sign_headers(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    with pytest.raises(Unauthorized):
        check_signature(config, headers, SPEC_BODY.replace(b" ", b""))


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        pytest.param(-300, True, id="oldest-allowed"),
        pytest.param(-301, False, id="stale"),
        pytest.param(300, True, id="newest-allowed"),
        pytest.param(301, False, id="future"),
    ],
)
def test_timestamp_tolerance_both_directions(offset: int, accepted: bool) -> None:
    config = _config(keys=(b"k" * 32,), tolerance_s=300)
    headers = {
        "webhook-id": "m",
        "webhook-timestamp": str(1_000_000 + offset),
        "webhook-signature": "v1,x",
    }
    if accepted:
        assert check_headers(config, None, headers, 1_000_000) is Verdict.NEEDS_SIGNATURE
    else:
        with pytest.raises(Unauthorized):
            check_headers(config, None, headers, 1_000_000)


@pytest.mark.parametrize(
    "authorization",
    ["Basic", "Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode(), "Digest abc"],
)
def test_malformed_basic_is_unauthorized(authorization: str) -> None:
    config = _config(basic=(b"u:p",))
    with pytest.raises(Unauthorized):
        check_headers(config, None, {"authorization": authorization}, 0)


def test_basic_scheme_is_case_insensitive() -> None:
    config = _config(basic=(b"u:p",))
    header = "basic " + base64.b64encode(b"u:p").decode()
    assert check_headers(config, None, {"authorization": header}, 0) is Verdict.ACCEPTED


def test_token_mode_off_ignores_path_token() -> None:
    config = _config(basic=(b"u:p",))
    with pytest.raises(Unauthorized):
        check_headers(config, "anything", {}, 0)
