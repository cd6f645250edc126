"""Privacy requests about one recipient: export everything held (GDPR art. 15 / 20), erase (art. 17).

Erasure removes contact points, attributes, preferences, message bodies, request data and error texts, and
cancels what has not gone yet. It keeps, under a pseudonymous id, what the law asks us to keep or what
holds no personal data: the consent ledger (proof of consent, GDPR art. 7(1)), the suppression list (so an
erased person is never messaged again), cost rows, and each notification's skeleton (type, channel,
status, timestamps) so counts and costs still add up.

This app holds the recipient, so the requests start here; apps that keep more about a person (notifications)
add to them with `export_section` and `erasure_step` when Django loads them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from commhub import channels

from .models import ConsentRecord, Recipient, actor_name
from .policy import address_key
from .selectors import consent_current, consent_ledger, preferences_of, suppressions_for_addresses
from .services import recipient_anonymise

logger = logging.getLogger(__name__)

ExportSection = Callable[[Recipient], Any]
ErasureStep = Callable[[Recipient, datetime], dict[str, int]]
_sections: dict[str, ExportSection] = {}
_erasure_steps: list[ErasureStep] = []


def export_section(name: str) -> Callable[[ExportSection], ExportSection]:
    """Register `fn(recipient)` as the export's `name` section."""

    def register(fn: ExportSection) -> ExportSection:
        _sections[name] = fn
        return fn

    return register


def erasure_step(fn: ErasureStep) -> ErasureStep:
    """Register `fn(recipient, now) -> counts`, run inside the erasure's transaction before the recipient is
    anonymised; its counts join the erasure's summary."""
    if fn not in _erasure_steps:
        _erasure_steps.append(fn)
    return fn


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def recipient_export_data(recipient: Recipient) -> dict[str, Any]:
    """Everything commhub holds about one recipient, as JSON-ready data (GDPR art. 15 / 20)."""
    addresses = [(c, address_key(c, recipient.address_for(c))) for c in channels.names() if recipient.address_for(c)]
    data: dict[str, Any] = {
        "exported_at": timezone.now().isoformat(),
        "recipient": {
            "external_id": recipient.external_id,
            "email": recipient.email,
            "phone": recipient.phone,
            "timezone": recipient.timezone,
            "locale": recipient.locale,
            "attributes": recipient.attributes,
            "send_window_start": iso(recipient.send_window_start),
            "send_window_end": iso(recipient.send_window_end),
            "erased_at": iso(recipient.erased_at),
            "created_at": iso(recipient.created_at),
            "updated_at": iso(recipient.updated_at),
        },
        "preferences": [
            {
                "type": p.notification_type.key if p.notification_type is not None else None,
                "category": p.category,
                "channel": p.channel,
                "enabled": p.enabled,
                "updated_at": iso(p.updated_at),
            }
            for p in preferences_of(recipient)
        ],
        "consent_current": [
            {
                "channel": s.channel,
                "purpose": s.purpose,
                "category": s.category,
                "action": s.action,
                "since": iso(s.since),
                "source": s.source,
            }
            for s in consent_current(recipient)
        ],
        "consent_ledger": [consent_record_data(r) for r in consent_ledger(recipient)],
        "suppressions": [
            {
                "channel": s.channel,
                "address": s.address,
                "reason": s.reason,
                "detail": s.detail,
                "created_at": iso(s.created_at),
                "lifted_at": iso(s.lifted_at),
            }
            for s in suppressions_for_addresses(addresses)
        ],
    }
    for name, section in _sections.items():
        data[name] = section(recipient)
    return data


def consent_record_data(record: ConsentRecord) -> dict[str, Any]:
    """One ledger entry as exported (JSON and CSV share these columns)."""
    return {
        "id": record.pk,
        "recipient": record.recipient.external_id,
        "channel": record.channel,
        "purpose": record.purpose,
        "category": record.category,
        "action": record.action,
        "source": record.source,
        "ip_address": record.ip_address,
        "user_agent": record.user_agent,
        "consent_text": record.consent_text,
        "text_version": record.text_version,
        "actor": record.actor,
        "reference": record.reference,
        "created_at": iso(record.created_at),
    }


def recipient_erase(*, recipient: Recipient, actor: Any = None) -> dict[str, int]:
    """Erase the recipient's personal data (GDPR art. 17); see the module docstring for what is kept."""
    now = timezone.now()
    summary: dict[str, int] = {}
    with transaction.atomic():
        recipient = Recipient.objects.select_for_update().get(pk=recipient.pk)
        for step in _erasure_steps:
            summary.update(step(recipient, now))
        recipient_anonymise(recipient=recipient, at=now)
        # what was erased is not kept here either: only that it happened, and how much
        audit_record(
            action="recipient.erase",
            obj=recipient,
            actor=actor,
            before={"erased_at": None},
            after={"erased_at": now, **summary},
        )
    logger.warning("recipient erased by %s: %s", actor_name(actor), summary)
    return summary
