"""Writes for organisations and memberships."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction

from audit.services import audit_record

from .models import Membership, Organisation


def organisation_create(*, slug: str, name: str = "") -> tuple[Organisation, bool]:
    """Create an organisation (or return the one with this slug)."""
    slug = slug.strip().lower()
    try:
        validate_slug(slug)
    except ValidationError as exc:
        raise ValidationError({"slug": exc.messages}) from exc
    if len(slug) > 64 or len(name) > 200:
        raise ValidationError({"slug": ["At most 64 characters (a name at most 200)."]})
    with transaction.atomic():
        organisation, created = Organisation.objects.get_or_create(slug=slug, defaults={"name": name or slug})
        if created:
            audit_record(
                action="organisation.create", obj=organisation, after={"slug": slug, "name": organisation.name}
            )
    return organisation, created


def organisation_by_slug(slug: str) -> Organisation:
    found = Organisation.objects.filter(slug=slug.strip().lower()).first()
    if found is None:
        known = ", ".join(Organisation.objects.values_list("slug", flat=True))
        raise ValidationError({"organisation": [f"No organisation {slug!r} (known: {known})."]})
    return found


def membership_set(*, user: Any, organisation: Organisation) -> Membership:
    """Put a user (service client or staff) in `organisation`: everything they see and write is its own."""
    with transaction.atomic():
        membership, created = Membership.objects.select_for_update().get_or_create(
            user=user, defaults={"organisation": organisation}
        )
        before = membership.organisation_id
        if not created and before != organisation.pk:
            membership.organisation = organisation
            membership.save(update_fields=["organisation"])
        if created or before != organisation.pk:
            audit_record(
                action="membership.set",
                obj=membership,
                before={} if created else {"organisation": before},
                after={"organisation": organisation.pk, "user": user.get_username()},
            )
    user.__dict__.pop("_commhub_member", None)  # the scope reads it afresh
    return membership
