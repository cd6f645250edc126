"""Standard Webhooks signatures (https://www.standardwebhooks.com/): `webhook-id`, `webhook-timestamp` and
`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one signature per live secret."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks import Webhook

SECRET_BYTES = 24


def new_secret() -> str:
    """A new signing secret in the spec's form (whsec_ + base64), as receivers' libraries take it."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signed_headers(*, message_id: str, body: bytes, keys: list[str], at: datetime) -> dict[str, str]:
    """The headers of one signed request: several signatures (space-separated) while a rotation overlaps."""
    signatures = " ".join(Webhook(key).sign(msg_id=message_id, timestamp=at, data=body) for key in keys)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": "commhub-webhooks/1",
    }
