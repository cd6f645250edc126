"""One-click unsubscribe (RFC 8058): signed tokens scoped to recipient x category, and the withdrawal.

The token is opaque to its holder and signed with SECRET_KEY, so a forged or altered one is refused and
changes nothing. It does not expire: an unsubscribe link in a two-year-old email must still work.
"""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from django.core import signing
from django.urls import reverse

from commhub.conf import knobs

from .constants import MARKETING
from .models import ConsentAction, ConsentSource, Recipient
from .selectors import policy_facts
from .services import Evidence, consent_record

_SALT = "commhub.unsubscribe.v1"

UNSUBSCRIBE_TEXT = "Unsubscribe from {category} emails (one click)."


class BadUnsubscribeToken(ValueError):
    pass


def unsubscribe_token(*, recipient_id: int, category: str, channel: str = "email") -> str:
    return signing.dumps([recipient_id, category, channel], salt=_SALT, compress=True)


def read_unsubscribe_token(token: str) -> tuple[Recipient, str, str]:
    """(recipient, category, channel) of a genuine token; BadUnsubscribeToken otherwise."""
    try:
        recipient_id, category, channel = signing.loads(token, salt=_SALT)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise BadUnsubscribeToken("This unsubscribe link is not valid.") from exc
    recipient = Recipient.objects.filter(pk=recipient_id).first()
    if recipient is None:
        raise BadUnsubscribeToken("This unsubscribe link is not valid.")
    return recipient, category, channel


def unsubscribe_url(token: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}{reverse('unsubscribe', args=[token])}"


def unsubscribe_mailto(token: str) -> str:
    address = knobs().unsubscribe_mailto
    if not address:
        sender = settings.DEFAULT_FROM_EMAIL.rsplit("<", 1)[-1].rstrip(">").strip()
        address = f"unsubscribe@{sender.rsplit('@', 1)[-1]}"
    return f"mailto:{address}?subject={quote('unsubscribe ' + token)}"


def list_unsubscribe_headers(token: str, url: str | None = None) -> dict[str, str]:
    """The RFC 2369 / RFC 8058 headers Gmail and Yahoo require on bulk marketing mail (`url`: the token's
    unsubscribe_url, when the caller has built it already)."""
    return {
        "List-Unsubscribe": f"<{url or unsubscribe_url(token)}>, <{unsubscribe_mailto(token)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def is_unsubscribed(recipient: Recipient, category: str, channel: str) -> bool:
    facts = policy_facts(recipient_ids=[recipient.pk], addresses=[])
    latest = facts.latest_consent(recipient.pk, channel, MARKETING, category)
    return latest is not None and latest.action == ConsentAction.WITHDRAWN


def unsubscribe(*, token: str, ip_address: str | None, user_agent: str, how: str):
    """Withdraw marketing consent for the token's category at once. Returns (recipient, category, record);
    record is None when the person had already unsubscribed (nothing new to prove)."""
    recipient, category, channel = read_unsubscribe_token(token)
    if is_unsubscribed(recipient, category, channel):
        return recipient, category, None
    record = consent_record(
        recipient=recipient,
        channel=channel,
        purpose=MARKETING,
        category=category,
        action=ConsentAction.WITHDRAWN,
        evidence=Evidence(
            source=ConsentSource.UNSUBSCRIBE_LINK,
            ip_address=ip_address,
            user_agent=user_agent,
            consent_text=UNSUBSCRIBE_TEXT.format(category=category),
            actor=recipient.external_id,
            reference=how,
        ),
    )
    return recipient, category, record
