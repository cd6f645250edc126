"""What the triggers app adds to erasure and retention: a digest's items copy the data of the events or messages
they gather. Erasing a person deletes their open windows (nothing more is sent to them) and the items of their
messages; purging a notification blanks the data its digest item copied."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from notifications.retention import purge_step
from preferences.models import Recipient
from preferences.privacy import erasure_step

from .models import DigestItem, DigestWindow


@erasure_step
def digests_erase(recipient: Recipient, now: datetime) -> dict[str, int]:
    windows = DigestWindow.objects.filter(
        organisation_id=recipient.organisation_id, recipient=recipient.external_id, state=DigestWindow.State.OPEN
    )
    items = DigestItem.objects.filter(Q(notification__recipient=recipient) | Q(window__in=windows))
    deleted_items = items.delete()[1].get("triggers.DigestItem", 0)
    deleted_windows = windows.delete()[1].get("triggers.DigestWindow", 0)
    return {"digest_windows_deleted": deleted_windows, "digest_items_deleted": deleted_items}


@purge_step
def digest_items_of_purged(notification_ids: list) -> dict[str, int]:
    return {"digest_items_blanked": DigestItem.objects.filter(notification_id__in=notification_ids).update(data={})}
