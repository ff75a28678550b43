"""Standard Webhooks signatures: what Lockgate signs verifies, and any change to the message, or an
old one, does not."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path
from typing import Any

import pytest

from lockgate.store.webhooks import new_webhook_secret
from lockgate.webhooks.signing import TOLERANCE, WebhookVerificationError, sign, verify

BODY = b'{"type":"api_token.created","data":{"token":"API_x"}}'


def signed(secret: str, at: int | None = None, body: bytes = BODY) -> dict[str, str]:
    return sign(secret, "msg_1", int(time.time()) if at is None else at, body)


def test_the_signature_matches_the_specifications_test_vector() -> None:
    headers = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert headers == {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }


def test_a_signed_message_verifies_and_yields_its_json() -> None:
    secret = new_webhook_secret()
    assert verify(secret, signed(secret), BODY)["data"]["token"] == "API_x"


def test_header_names_are_matched_case_insensitively() -> None:
    secret = new_webhook_secret()
    headers = {k.title(): v for k, v in signed(secret).items()}
    assert verify(secret, headers, BODY)["type"] == "api_token.created"


def test_a_tampered_body_is_refused() -> None:
    secret = new_webhook_secret()
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        verify(secret, signed(secret), BODY.replace(b"API_x", b"API_y"))


def test_a_tampered_signature_id_or_timestamp_is_refused() -> None:
    secret = new_webhook_secret()
    headers = signed(secret)
    signature = headers["webhook-signature"]
    flipped = signature[:8] + ("A" if signature[8] != "A" else "B") + signature[9:]  # not a padding bit
    for changed in (
        {"webhook-signature": flipped},
        {"webhook-id": "msg_2"},
        {"webhook-timestamp": str(int(headers["webhook-timestamp"]) - 1)},
    ):
        with pytest.raises(WebhookVerificationError):
            verify(secret, headers | changed, BODY)


def test_another_secret_does_not_verify() -> None:
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        verify(new_webhook_secret(), signed(new_webhook_secret()), BODY)


def test_an_old_or_future_timestamp_is_refused_even_when_correctly_signed() -> None:
    secret = new_webhook_secret()
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(secret, signed(secret, at=int(time.time()) - TOLERANCE - 60), BODY)
    with pytest.raises(WebhookVerificationError, match="too new"):
        verify(secret, signed(secret, at=int(time.time()) + TOLERANCE + 60), BODY)


@pytest.mark.parametrize("signature", ["", "garbage", "v1,!!!not-base64", "v1,a,b", "v2,abc"])
def test_a_missing_or_malformed_signature_is_a_verification_error_never_another_exception(
    signature: str,
) -> None:
    secret = new_webhook_secret()
    with pytest.raises(WebhookVerificationError):
        verify(secret, signed(secret) | {"webhook-signature": signature}, BODY)


def test_a_message_without_the_headers_is_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="Missing required headers"):
        verify(new_webhook_secret(), {}, BODY)


def test_one_matching_signature_among_several_verifies_as_during_a_key_rotation() -> None:
    old, new = new_webhook_secret(), new_webhook_secret()
    headers = signed(new)
    headers["webhook-signature"] = f"{signed(old)['webhook-signature']} {headers['webhook-signature']}"
    assert verify(new, headers, BODY)["type"] == "api_token.created"


def test_a_new_secret_is_whsec_and_32_random_bytes_in_base64() -> None:
    secret = new_webhook_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert new_webhook_secret() != secret


def test_the_verification_shown_to_agent_authors_accepts_a_delivery_and_refuses_a_tampered_one() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    [by_hand] = [code for code in re.findall(r"```python\n(.*?)```", guide, re.S) if "def verify" in code]
    namespace: dict[str, Any] = {}
    exec(by_hand, namespace)  # noqa: S102 - the documentation's own example
    secret = new_webhook_secret()
    assert namespace["verify"](secret, signed(secret), BODY)["data"]["token"] == "API_x"
    with pytest.raises(ValueError, match="no matching signature"):
        namespace["verify"](secret, signed(secret), BODY + b" ")
    with pytest.raises(ValueError, match="too old"):
        namespace["verify"](secret, signed(secret, at=int(time.time()) - 600), BODY)
