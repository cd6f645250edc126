"""Standard Webhooks signatures as receivers check them: with the `standardwebhooks` library and with an
independent implementation of the spec's steps; both secrets verify during a rotation; a tampered body, another
secret or a timestamp outside the tolerance do not."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from hooks.signing import new_secret, signed_headers

BODY = b'{"event":"invoice.paid","amount":"12.50 \xe2\x82\xac"}'


def spec_verify(secret: str, headers: dict[str, str], body: bytes, *, tolerance: int = 300) -> bool:
    """The spec's verification, written from its text: HMAC-SHA256 over "id.timestamp.body" with the base64-decoded
    secret (after whsec_), compared with each space-separated v1 signature; the timestamp within tolerance."""
    if abs(time.time() - int(headers["webhook-timestamp"])) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        version == "v1" and hmac.compare_digest(value, expected)
        for version, _, value in (s.partition(",") for s in headers["webhook-signature"].split(" "))
    )


def test_a_receiver_verifies_commhubs_signature_with_the_library_and_with_the_spec():
    secret = new_secret()
    headers = signed_headers(message_id="msg_1", body=BODY, keys=[secret], at=datetime.now(UTC))
    assert Webhook(secret).verify(BODY, headers) == {"event": "invoice.paid", "amount": "12.50 €"}
    assert spec_verify(secret, headers, BODY)
    assert headers["webhook-signature"].startswith("v1,") and headers["content-type"] == "application/json"


def test_during_a_rotation_both_secrets_verify_and_afterwards_only_the_new_one():
    old, new = new_secret(), new_secret()
    overlapping = signed_headers(message_id="msg_2", body=BODY, keys=[new, old], at=datetime.now(UTC))
    assert len(overlapping["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(BODY, overlapping)
        assert spec_verify(secret, overlapping, BODY)
    after = signed_headers(message_id="msg_3", body=BODY, keys=[new], at=datetime.now(UTC))
    Webhook(new).verify(BODY, after)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(BODY, after)
    assert not spec_verify(old, after, BODY)


@pytest.mark.parametrize("tamper", ["body", "id", "secret", "old", "future"])
def test_a_tampered_request_or_a_stale_timestamp_fails_verification(tamper):
    secret = new_secret()
    at = datetime.now(UTC) - timedelta(minutes=10) if tamper == "old" else datetime.now(UTC)
    at = at + timedelta(minutes=10) if tamper == "future" else at
    headers = signed_headers(message_id="msg_4", body=BODY, keys=[secret], at=at)
    body = BODY.replace(b"12.50", b"99.50") if tamper == "body" else BODY
    if tamper == "id":
        headers["webhook-id"] = "msg_5"
    checked_with = new_secret() if tamper == "secret" else secret
    with pytest.raises(WebhookVerificationError):
        Webhook(checked_with).verify(body, headers)
    assert not spec_verify(checked_with, headers, body)
