"""Writes for recipients."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from .models import Recipient

_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
UPSERT_FIELDS = ("email", "phone", "timezone", "locale", "attributes")


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
        try:
            if name == "email":
                value = (value or "").strip()
                if value:
                    validate_email(value)
            elif name == "phone":
                value = phone_normalize((value or "").strip())
            elif name == "timezone":
                if value not in _timezones():
                    raise ValidationError(f"Unknown time zone {value!r}; use an IANA name such as Europe/Paris.")
            elif name == "locale":
                if not isinstance(value, str) or not _LOCALE.match(value):
                    raise ValidationError(f"{value!r} is not a locale tag such as en or pt-BR.")
                value = value.replace("_", "-")
            elif name == "attributes" and not isinstance(value, dict):
                raise ValidationError("Attributes must be a JSON object.")
        except ValidationError as exc:
            errors[name] = exc.messages
            continue
        cleaned[name] = value
    if errors:
        raise ValidationError(errors)
    return cleaned


def recipient_upsert(*, external_id: str, **fields: Any) -> tuple[Recipient, bool]:
    """Create or update the recipient with this external id. Only the fields given change."""
    external_id = str(external_id).strip()
    if not external_id:
        raise ValidationError({"external_id": ["This field may not be blank."]})
    cleaned = recipient_fields_clean(fields)
    with transaction.atomic():
        recipient, created = Recipient.objects.select_for_update().get_or_create(
            external_id=external_id, defaults=cleaned
        )
        if not created and cleaned:
            for name, value in cleaned.items():
                setattr(recipient, name, value)
            recipient.save(update_fields=[*cleaned, "updated_at"])
    return recipient, created
