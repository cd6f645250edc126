"""Writes for recipients, preferences, the consent ledger and suppressions."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, time
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record, fields_of
from commhub import channels
from commhub.locales import is_locale
from commhub.tenancy import DEFAULT_ORGANISATION_ID, acting_organisation_id

from .constants import MARKETING, TRANSACTIONAL
from .models import (
    PURPOSE_CHOICES,
    ConsentAction,
    ConsentRecord,
    ConsentSource,
    Preference,
    Recipient,
    Suppression,
    SuppressionReason,
    actor_name,
)

logger = logging.getLogger(__name__)

UPSERT_FIELDS = ("email", "phone", "timezone", "locale", "attributes", "send_window_start", "send_window_end")
_TEXT_FIELDS = frozenset({"email", "phone", "timezone", "locale"})
PURPOSES = frozenset(p for p, _ in PURPOSE_CHOICES)


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def phone_normalize(value: str) -> str:
    """Any international notation (+1 415 555 0123, +1-415-555-0123) -> E.164; refuses what isn't a number."""
    if not value:
        return ""
    if not value.strip().startswith("+"):
        raise ValidationError("Enter the number in international form: + and the country code, e.g. +14155550123.")
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(f"Not a phone number: {exc}.") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(f"{value} is not a valid phone number for its country code.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def recipient_fields_clean(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise contact fields; raises ValidationError naming each bad field."""
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in fields.items():
        if name not in UPSERT_FIELDS:
            errors[name] = ["Unknown field."]
            continue
        if name in _TEXT_FIELDS and not isinstance(value, str):
            errors[name] = ["Must be a string."]
            continue
        try:
            if name == "email":
                value = (value or "").strip()
                if value:
                    validate_email(value)
            elif name == "phone":
                value = phone_normalize((value or "").strip())
            elif name == "timezone":
                value = (value or "").strip()
                if value and value not in _timezones():
                    raise ValidationError(f"Unknown time zone {value!r}; use an IANA name such as Europe/Paris.")
            elif name == "locale":
                if not is_locale(value):
                    raise ValidationError(f"{value!r} is not a locale tag such as en or pt-BR.")
                value = value.replace("_", "-")
            elif name == "attributes" and not isinstance(value, dict):
                raise ValidationError("Attributes must be a JSON object.")
            elif name in ("send_window_start", "send_window_end"):
                value = _local_time(value)
        except ValidationError as exc:
            errors[name] = exc.messages
            continue
        cleaned[name] = value
    if "send_window_start" in cleaned or "send_window_end" in cleaned:
        start, end = cleaned.get("send_window_start"), cleaned.get("send_window_end")
        if (start is None) != (end is None) and not errors:
            errors["send_window_end"] = ["Give both ends of the send window (HH:MM), or neither."]
        elif start is not None and start == end:
            errors["send_window_end"] = ["The send window must not be empty."]
    if errors:
        raise ValidationError(errors)
    return cleaned


# HH:MM, seconds allowed (and dropped); blank: none
LOCAL_TIME_PATTERN = r"^(([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?)?$"


def _local_time(value: Any) -> time | None:
    if value in (None, ""):
        return None
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0)
    if not isinstance(value, str) or not re.match(LOCAL_TIME_PATTERN, value):
        raise ValidationError(f"{value!r} is not a local time such as 08:00.")
    return time.fromisoformat(value).replace(second=0, microsecond=0)


def recipient_upsert(*, external_id: str, audited: bool = True, **fields: Any) -> tuple[Recipient, bool]:
    """Create or update the recipient with this external id. Only the fields given change. A change is audited
    (which fields, before and after) unless `audited` is False: a send naming its recipient inline records the
    address on the notification itself, and an audit row per send would tax the send path."""
    external_id = str(external_id).strip()
    if not external_id:
        raise ValidationError({"external_id": ["This field may not be blank."]})
    cleaned = recipient_fields_clean(fields)
    with transaction.atomic():
        recipient, created = Recipient.objects.select_for_update().get_or_create(
            organisation_id=acting_organisation_id(), external_id=external_id, defaults=cleaned
        )
        before = {} if created else fields_of(recipient, sorted(cleaned))
        if not created and cleaned:
            for name, value in cleaned.items():
                setattr(recipient, name, value)
            recipient.save(update_fields=[*cleaned, "updated_at"])
        changed = sorted(cleaned) if created else [n for n in sorted(cleaned) if before[n] != getattr(recipient, n)]
        if audited and (created or changed):
            audit_record(
                action="recipient.create" if created else "recipient.update",
                obj=recipient,
                before={n: before[n] for n in changed} if not created else {},
                after=fields_of(recipient, changed),
            )
    return recipient, created


# --- consent ledger -----------------------------------------------------------------------------------


@dataclass
class Evidence:
    """How a consent decision reached us: kept on every ledger entry."""

    source: str
    ip_address: str | None = None
    user_agent: str = ""
    consent_text: str = ""
    actor: Any = None
    reference: str = ""
    extra: dict = field(default_factory=dict)


def consent_record(
    *,
    recipient: Recipient,
    channel: str,
    purpose: str,
    action: str,
    evidence: Evidence,
    category: str = "",
    at: datetime | None = None,
) -> ConsentRecord:
    """Append one entry to the ledger. Granting and withdrawing are the same single call."""
    errors: dict[str, list[str]] = {}
    if not channels.exists(channel):
        errors["channel"] = [f"Unknown channel {channel!r}; use one of {sorted(channels.names())}."]
    if purpose not in PURPOSES:
        errors["purpose"] = [f"Unknown purpose {purpose!r}; use one of {sorted(PURPOSES)}."]
    if action not in ConsentAction.values:
        errors["action"] = [f"Unknown action {action!r}; use granted or withdrawn."]
    if evidence.source not in ConsentSource.values:
        errors["source"] = [f"Unknown source {evidence.source!r}."]
    if category and not re.fullmatch(r"[-a-zA-Z0-9_]+", category):
        errors["category"] = ["A category is a slug, e.g. education."]
    if recipient.erased_at is not None and action == ConsentAction.GRANTED:
        errors["recipient"] = ["This recipient was erased; consent cannot be granted to a pseudonym."]
    if errors:
        raise ValidationError(errors)
    record = ConsentRecord(
        recipient=recipient,
        channel=channel,
        purpose=purpose,
        category=category,
        action=action,
        source=evidence.source,
        ip_address=evidence.ip_address or None,
        user_agent=(evidence.user_agent or "")[:512],
        consent_text=evidence.consent_text or "",
        text_version=ConsentRecord.version_of(evidence.consent_text or ""),
        actor=actor_name(evidence.actor)[:255],
        reference=(evidence.reference or "")[:255],
        created_at=at or timezone.now(),
    )
    record.save(force_insert=True)
    logger.info(
        "consent %s: recipient %s %s %s/%s via %s",
        action,
        recipient.external_id,
        channel,
        purpose,
        category or "*",
        evidence.source,
    )
    return record


# --- preferences --------------------------------------------------------------------------------------


def preference_set(
    *, recipient: Recipient, enabled: bool, channel: str = "", notification_type=None, category: str = ""
) -> tuple[Preference, bool]:
    """Turn one scope on or off (type, category or everything; one channel or all). Returns (pref, created)."""
    errors: dict[str, list[str]] = {}
    if channel and not channels.exists(channel):
        errors["channel"] = [f"Unknown channel {channel!r}; use one of {sorted(channels.names())} or leave it blank."]
    if notification_type is not None and category:
        errors["category"] = ["A preference targets a type or a category, not both."]
    if category and not re.fullmatch(r"[-a-zA-Z0-9_]+", category):
        errors["category"] = ["A category is a slug, e.g. education."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        try:
            with transaction.atomic():
                pref, created = Preference.objects.update_or_create(
                    recipient=recipient,
                    notification_type=notification_type,
                    category=category,
                    channel=channel,
                    defaults={"enabled": enabled},
                )
        except IntegrityError:  # a concurrent request created it first
            pref = Preference.objects.get(
                recipient=recipient, notification_type=notification_type, category=category, channel=channel
            )
            pref.enabled, created = enabled, False
            pref.save(update_fields=["enabled", "updated_at"])
        audit_record(
            action="preference.set",
            obj=pref,
            after={
                "recipient": recipient.external_id,
                "type": getattr(notification_type, "key", ""),
                "category": category,
                "channel": channel,
                "enabled": enabled,
            },
        )
    return pref, created


def preference_delete(*, preference: Preference) -> None:
    """Forget a choice: the type's default applies again."""
    preference.delete()


# --- suppressions -------------------------------------------------------------------------------------


def normalise_address(channel: str, address: str) -> str:
    """The canonical form of an address on `channel` (its spec decides: lower-case email, E.164 phone, ...)."""
    if not channels.exists(channel):
        raise ValidationError({"channel": [f"Unknown channel {channel!r}."]})
    return channels.get(channel).normalize_address(address or "")


_SUPPRESSION = ("channel", "address", "reason", "detail")
_LIFT = ("lifted_at", "lifted_by", "lift_reason")


def suppression_add(
    *,
    channel: str,
    address: str,
    reason: str,
    detail: str = "",
    source_event: dict | None = None,
    actor: Any = None,
    at: datetime | None = None,
    organisation_id: int | None = None,
) -> tuple[Suppression, bool]:
    """Block an address on every type, in one organisation (`organisation_id`, else the acting one). Blocking an
    already-blocked address returns the existing row."""
    if not channels.exists(channel):
        raise ValidationError({"channel": [f"Unknown channel {channel!r}; use one of {sorted(channels.names())}."]})
    if reason not in SuppressionReason.values:
        raise ValidationError({"reason": [f"Unknown reason {reason!r}; use one of {SuppressionReason.values}."]})
    try:
        address = normalise_address(channel, address)
    except ValidationError as exc:
        raise ValidationError({"address": exc.messages}) from exc
    if not address:
        raise ValidationError({"address": ["This field may not be blank."]})
    active: dict[str, Any] = {
        "organisation_id": organisation_id or acting_organisation_id(),
        "channel": channel,
        "address": address,
    }
    existing = Suppression._base_manager.filter(**active, lifted_at__isnull=True).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            suppression = Suppression.objects.create(
                organisation_id=active["organisation_id"],
                channel=channel,
                address=address,
                reason=reason,
                detail=detail[:1000],
                source_event=source_event or {},
                created_by=actor_name(actor)[:255],
                created_at=at or timezone.now(),
            )
            audit_record(
                action="suppression.add", obj=suppression, actor=actor, after=fields_of(suppression, _SUPPRESSION)
            )
    except IntegrityError:  # blocked concurrently: the partial unique index keeps one active row
        return Suppression._base_manager.get(**active, lifted_at__isnull=True), False
    logger.warning("suppressed %s %s: %s", channel, address, reason)
    return suppression, True


def suppression_lift(*, suppression: Suppression, actor: Any, reason: str) -> Suppression:
    """Staff lift a block; who and why stay on the row."""
    if not (reason or "").strip():
        raise ValidationError({"reason": ["Say why the block is lifted (it is kept for audits)."]})
    with transaction.atomic():
        locked = Suppression.objects.select_for_update().get(pk=suppression.pk)
        if locked.lifted_at is None:
            before = fields_of(locked, _LIFT)
            locked.lifted_at = timezone.now()
            locked.lifted_by = actor_name(actor)[:255]
            locked.lift_reason = reason.strip()
            locked.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
            audit_record(
                action="suppression.lift", obj=locked, actor=actor, before=before, after=fields_of(locked, _LIFT)
            )
    logger.warning("suppression of %s %s lifted by %s", locked.channel, locked.address, locked.lifted_by)
    return locked


# --- SMS keywords -------------------------------------------------------------------------------------

# The CTIA / Twilio opt-out and opt-in keywords; a message that is exactly one of them (any case, spaces
# around it ignored) counts.
STOP_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_KEYWORDS = frozenset({"START", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})


def sms_keyword(body: str) -> str:
    """'stop' for an opt-out, 'start' for an opt-in, 'help', or '' for any other text."""
    word = " ".join((body or "").split()).upper()
    if word in STOP_KEYWORDS:
        return "stop"
    if word in START_KEYWORDS:
        return "start"
    if word in HELP_KEYWORDS:
        return "help"
    return ""


def _already_handled(reference: str) -> bool:
    """A provider retrying the same inbound message (same id) must not write the ledger twice."""
    return (
        bool(reference) and ConsentRecord.objects.filter(source=ConsentSource.SMS_KEYWORD, reference=reference).exists()
    )


@dataclass
class KeywordOutcome:
    suppression: Suppression | None
    recipients: list[Recipient]
    records: list[ConsentRecord]


def suppression_active_for(phone: str) -> Suppression | None:
    return Suppression.objects.filter(channel="sms", address=phone, lifted_at__isnull=True).order_by("pk").first()


def sms_opt_out(
    *, phone: str, keyword: str, reference: str, detail: str = "", at: datetime | None = None
) -> KeywordOutcome:
    """A STOP from `phone` (a keyword or Twilio's 21610): block the number and withdraw SMS consent for
    every purpose, for every recipient with that number. The number told the sender to stop, and organisations
    share the sender: it is blocked in every organisation that knows it (and the default one)."""
    at = at or timezone.now()
    if _already_handled(reference):
        return KeywordOutcome(suppression_active_for(phone), [], [])
    phone = normalise_address("sms", phone)
    recipients = list(Recipient._base_manager.filter(phone=phone))
    suppression = None
    for organisation_id in sorted(
        {r.organisation_id or DEFAULT_ORGANISATION_ID for r in recipients} | {DEFAULT_ORGANISATION_ID}
    ):
        added, _ = suppression_add(
            channel="sms",
            address=phone,
            reason=SuppressionReason.STOP,
            detail=detail or (f"texted {keyword}, message {reference}" if reference else f"texted {keyword}"),
            source_event={"keyword": keyword, "reference": reference},
            actor="sms keyword",
            at=at,
            organisation_id=organisation_id,
        )
        suppression = suppression or added
    evidence = Evidence(source=ConsentSource.SMS_KEYWORD, consent_text=keyword, reference=reference, actor=phone)
    records = [
        consent_record(
            recipient=r, channel="sms", purpose=purpose, action=ConsentAction.WITHDRAWN, evidence=evidence, at=at
        )
        for r in recipients
        if r.erased_at is None
        for purpose in (TRANSACTIONAL, MARKETING)
    ]
    return KeywordOutcome(suppression, recipients, records)


def sms_opt_in(*, phone: str, keyword: str, reference: str, at: datetime | None = None) -> KeywordOutcome:
    """START/UNSTOP: lift the STOP block and restore what the STOP withdrew (not more: a number that never
    agreed to marketing does not start receiving it by texting START)."""
    at = at or timezone.now()
    phone = phone_normalize(phone)
    if _already_handled(reference):
        return KeywordOutcome(None, [], [])
    lifted = None
    for block in Suppression._base_manager.filter(  # every organisation's, as the STOP added them
        channel="sms", address=phone, reason=SuppressionReason.STOP, lifted_at__isnull=True
    ):
        lifted = suppression_lift(suppression=block, actor="sms keyword", reason=f"{keyword} ({reference})")
    recipients = list(Recipient._base_manager.filter(phone=phone, erased_at__isnull=True))
    evidence = Evidence(source=ConsentSource.SMS_KEYWORD, consent_text=keyword, reference=reference, actor=phone)
    records = []
    for r in recipients:
        history: dict[str, list[ConsentRecord]] = {}
        for record in ConsentRecord.objects.filter(recipient=r, channel="sms", category="").order_by(
            "created_at", "id"
        ):
            history.setdefault(record.purpose, []).append(record)
        for purpose, entries in history.items():
            stop = entries[-1]
            if stop.action != ConsentAction.WITHDRAWN or stop.source != ConsentSource.SMS_KEYWORD:
                continue
            before = entries[-2].action if len(entries) > 1 else None
            # the state before STOP: its own entry, else the purpose's default (transactional needs no grant)
            allowed_before = before == ConsentAction.GRANTED or (before is None and purpose == TRANSACTIONAL)
            if allowed_before:
                records.append(
                    consent_record(
                        recipient=r,
                        channel="sms",
                        purpose=purpose,
                        action=ConsentAction.GRANTED,
                        evidence=evidence,
                        at=at,
                    )
                )
    return KeywordOutcome(lifted, recipients, records)


# --- erasure ------------------------------------------------------------------------------------------


def pseudonym_for(external_id: str) -> str:
    """A stable pseudonym: the same person erased twice gets the same one; it cannot be reversed."""
    from django.conf import settings

    digest = hashlib.sha256(f"{settings.SECRET_KEY}:recipient:{external_id}".encode()).hexdigest()[:24]
    return f"erased-{digest}"


def recipient_anonymise(*, recipient: Recipient, at: datetime | None = None) -> Recipient:
    """Remove the recipient's contact points and personal attributes; keep the row (and the ledger that points
    at it) under a pseudonymous id. Preferences go: they describe a person who is no longer identifiable."""
    if recipient.erased_at is not None:
        return recipient
    pseudonym = pseudonym_for(recipient.external_id)
    # The same external id erased before (and created again since): its earlier row keeps the plain
    # pseudonym, this one takes the next free -2, -3, ... (the ids of the two stay linked, as they are).
    taken = set(
        Recipient.objects.filter(external_id__startswith=pseudonym)
        .exclude(pk=recipient.pk)
        .values_list("external_id", flat=True)
    )
    suffix = 1
    while (pseudonym if suffix == 1 else f"{pseudonym}-{suffix}") in taken:
        suffix += 1
    recipient.external_id = pseudonym if suffix == 1 else f"{pseudonym}-{suffix}"
    recipient.email = recipient.phone = recipient.timezone = ""
    recipient.locale = "en"
    recipient.attributes = {}
    recipient.send_window_start = recipient.send_window_end = None
    recipient.erased_at = at or timezone.now()
    recipient.save()
    Preference.objects.filter(recipient=recipient).delete()
    return recipient
