"""One-click unsubscribe (RFC 8058): tokens scoped to recipient x category, and the withdrawal.

The token is encrypted and authenticated (Fernet, with a key derived from SECRET_KEY; SECRET_KEY_FALLBACKS
still open older ones), so its holder learns nothing from it (not the recipient's internal id) and a forged
or altered one is refused and changes nothing. It does not expire: an unsubscribe link in a two-year-old email
must still work, including the signed (readable) v1 tokens sent before.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from urllib.parse import quote

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core import signing
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.crypto import salted_hmac

from commhub.conf import knobs

from .constants import MARKETING
from .models import ConsentAction, ConsentSource, Recipient
from .selectors import policy_facts
from .services import Evidence, consent_record

_SALT = "commhub.unsubscribe.v1"
_V2 = "u2."
_V2_SALT = "commhub.unsubscribe.v2"

UNSUBSCRIBE_TEXT = "Unsubscribe from {category} emails (one click)."


class BadUnsubscribeToken(ValueError):
    pass


@functools.cache
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    """Fernet keys derived from SECRET_KEY and its fallbacks (the first encrypts, all decrypt)."""
    derived = [salted_hmac(_V2_SALT, "fernet", secret=key, algorithm="sha256").digest() for key in keys]
    return MultiFernet([Fernet(base64.urlsafe_b64encode(k)) for k in derived])


def _current_cipher() -> MultiFernet:
    return _cipher((settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS))


def unsubscribe_token(*, recipient_id: int, category: str, channel: str = "email") -> str:
    plain = json.dumps([recipient_id, category, channel], separators=(",", ":")).encode()
    return _V2 + _current_cipher().encrypt(plain).decode()


def _token_fields(token: str) -> list:
    if token.startswith(_V2):
        return json.loads(_current_cipher().decrypt(token[len(_V2) :].encode()))
    return signing.loads(token, salt=_SALT)  # v1: links in emails sent before the tokens were encrypted


def read_unsubscribe_token(token: str) -> tuple[Recipient, str, str]:
    """(recipient, category, channel) of a genuine token; BadUnsubscribeToken otherwise."""
    try:
        recipient_id, category, channel = _token_fields(token)
        if not isinstance(recipient_id, int) or not isinstance(category, str) or not isinstance(channel, str):
            raise TypeError("unexpected token fields")
    except (signing.BadSignature, InvalidToken, ValueError, TypeError) as exc:
        raise BadUnsubscribeToken("This unsubscribe link is not valid.") from exc
    recipient = Recipient.objects.filter(pk=recipient_id).first()
    if recipient is None:
        raise BadUnsubscribeToken("This unsubscribe link is not valid.")
    return recipient, category, channel


_MARKER = "commhub-token"


@functools.lru_cache(maxsize=16)
def _unsubscribe_route(base_url: str, script_prefix: str, urlconf: str | None) -> tuple[str, str]:
    """The unsubscribe URL around its token, reversed once per base URL, script prefix and URL conf."""
    head, _, tail = reverse("unsubscribe", args=[_MARKER], urlconf=urlconf).rpartition(_MARKER)
    return f"{base_url}{head}", tail


def unsubscribe_url(token: str) -> str:
    """The one-click link for `token` (what `reverse` gives: a token's characters are URL-safe and never quoted;
    reversing per message was 1.5 % of a worker's CPU per email)."""
    head, tail = _unsubscribe_route(settings.PUBLIC_BASE_URL, get_script_prefix(), get_urlconf())
    return f"{head}{token}{tail}"


_URL_SAFE = re.compile(r"[A-Za-z0-9_.=-]*")


def _quoted(token: str) -> str:
    """`quote(token)`: for a token's URL-safe characters only `=` changes (quote's per-character loop was 1.5 % of
    a worker's CPU per marketing email)."""
    return token.replace("=", "%3D") if _URL_SAFE.fullmatch(token) else quote(token)


def unsubscribe_mailto(token: str) -> str:
    address = knobs().unsubscribe_mailto
    if not address:
        sender = settings.DEFAULT_FROM_EMAIL.rsplit("<", 1)[-1].rstrip(">").strip()
        address = f"unsubscribe@{sender.rsplit('@', 1)[-1]}"
    return f"mailto:{address}?subject=unsubscribe%20{_quoted(token)}"


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
