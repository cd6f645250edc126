"""Digests: a rule whose version digests gathers its items (events) for one recipient (and key) in a window, then
sends one notification whose template receives the list; a type that digests does the same with its messages
(taken as `digested` by the submit path, which hands them here: `type_digest_gather`).

- *Sliding*: the first item opens a window of `digest_minutes`; later items join it until it closes.
- *Weekly*: the window closes at the next `digest_weekday` `digest_time` in the recipient's own zone (UTC when
  unknown), daylight saving included: Monday 09:00 in New York is 13:00 UTC in summer and 14:00 in winter.

Windows and items are rows (a restart loses nothing). The beat's flush claims due windows (SKIP LOCKED) and marks
them sent in the same transaction as their notification, so two beats send each digest once. A window exists
only once an item arrives: a week without events sends nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import F

from commhub import tenancy
from notifications.constants import DigestKind
from notifications.models import DigestSettings, Notification
from notifications.services import SubmitRequest, notifications_submit_batch
from preferences.quiet_hours import zone
from preferences.selectors import recipients_by_external_id

from .models import DigestItem, DigestWindow, Event, RuleRun, RuleVersion

logger = logging.getLogger(__name__)
FLUSH_BATCH = 200


def weekly_close(after: datetime, *, weekday: int, at, zone_name: str) -> tuple[datetime, str]:
    """The first `weekday` `at` (local, in `zone_name`, else UTC) strictly after `after`, in UTC."""
    tz = zone(zone_name) or ZoneInfo("UTC")
    local = after.astimezone(tz)
    day = local.date() + timedelta(days=(weekday - local.weekday()) % 7)
    close = datetime.combine(day, at, tzinfo=tz)
    if close <= local:
        close = datetime.combine(day + timedelta(days=7), at, tzinfo=tz)
    return close.astimezone(UTC), str(tz)


def window_closes(settings: DigestSettings, opened: datetime, zone_name: str) -> tuple[datetime, str]:
    """When a window opened at `opened` closes under a type's or a rule version's digest settings, and the zone a
    weekly one closed in."""
    if settings.digest == DigestKind.SLIDING:
        return opened + timedelta(minutes=settings.digest_minutes), ""
    return weekly_close(opened, weekday=settings.digest_weekday, at=settings.digest_time, zone_name=zone_name)


def _window(
    owner: dict,
    settings: DigestSettings,
    *,
    organisation_id,
    recipient: str,
    key: str,
    opened: datetime,
    zone_name: str,
) -> DigestWindow:
    """The open window of (owner, recipient, key), opened now if there is none (a concurrent opener wins).
    `owner`: {"rule_id": ..., "rule_version": ...} or {"notification_type_id": ...}."""
    where = {k: v for k, v in owner.items() if k.endswith("_id")}
    if "notification_type_id" in where:
        where["organisation_id"] = organisation_id
    found = (
        DigestWindow.objects.select_for_update()
        .filter(**where, recipient=recipient, key=key, state=DigestWindow.State.OPEN)
        .first()
    )
    if found is not None:
        return found
    closes, used = window_closes(settings, opened, zone_name)
    window = DigestWindow(
        organisation_id=organisation_id,
        **owner,
        recipient=recipient,
        key=key,
        opened_at=opened,
        closes_at=closes,
        zone=used,
    )
    try:
        with transaction.atomic():
            window.save(force_insert=True)
        return window
    except IntegrityError:
        return DigestWindow.objects.select_for_update().get(
            **where, recipient=recipient, key=key, state=DigestWindow.State.OPEN
        )


def _counted(window: DigestWindow, made: bool) -> None:
    if made:
        DigestWindow.objects.filter(pk=window.pk).update(items_count=window.items_count + 1)
        window.items_count += 1


def digest_add(items: list[tuple[RuleVersion, Event, str, str, dict]]) -> list[RuleRun]:
    """Put each (version, event, recipient, key, data) in its window; the runs that say where it went."""
    zones = {r.external_id: r.timezone for r in recipients_by_external_id(r for _, _, r, _, _ in items).values()}
    runs = []
    windows: dict[tuple[int, str, str], DigestWindow] = {}  # a batch's items for one window find it once
    for version, event, recipient, key, data in items:
        slot = (version.rule_id, recipient, key)
        if slot not in windows:
            windows[slot] = _window(
                {"rule_id": version.rule_id, "rule_version": version},
                version,
                organisation_id=event.organisation_id,
                recipient=recipient,
                key=key,
                opened=event.occurred_at,
                zone_name=zones.get(recipient, ""),
            )
        window = windows[slot]
        _, made = DigestItem.objects.get_or_create(window=window, event=event, defaults={"data": data})
        _counted(window, made)
        detail = f"in digest #{window.pk} ({window.items_count} so far), sent {window.closes_at:%Y-%m-%d %H:%M} UTC"
        runs.append(
            RuleRun(
                event=event, rule_version=version, recipient=recipient, outcome=RuleRun.Outcome.DIGESTED, detail=detail
            )
        )
    return runs


def type_digest_gather(rows: Sequence[Notification]) -> None:
    """A digesting type's new messages (status `digested`, inserted in this transaction), each into its window:
    per type, recipient and the value of the type's `digest_key` in the message's data. A batch writes its items
    in one statement and counts them once per window."""
    slots: dict[tuple, list[Notification]] = defaultdict(list)
    for row in rows:
        ntype = row.notification_type
        key = str(row.data.get(ntype.digest_key, ""))[:200] if ntype.digest_key else ""
        slots[(row.organisation_id, ntype.pk, row.recipient.external_id, key)].append(row)
    items = []
    # windows locked in one order: two batches for the same people wait for each other, never deadlock
    for (organisation_id, type_id, recipient, key), gathered in sorted(slots.items(), key=lambda slot: slot[0]):
        first = gathered[0]
        window = _window(
            {"notification_type_id": type_id},
            first.notification_type,
            organisation_id=organisation_id,
            recipient=recipient,
            key=key,
            opened=first.created_at,
            zone_name=first.recipient.timezone,
        )
        DigestWindow.objects.filter(pk=window.pk).update(items_count=F("items_count") + len(gathered))
        items += [DigestItem(window=window, notification=row, data=row.data) for row in gathered]
    DigestItem.objects.bulk_create(items)


def _request(window: DigestWindow, items: list[DigestItem]) -> SubmitRequest:
    """The digest notification of a window: a rule's goes as the rule's type, a digesting type's as its
    `digest_type`."""
    version, ntype = window.rule_version, window.notification_type
    if version is not None and window.rule is not None:
        cap = version.digest_max_items
        names = sorted({item.event.name for item in items if item.event is not None})
        what = (
            f"{len(items)} event(s) {', '.join(f'`{n}`' for n in names)} for rule `{window.rule.key}` v{version.number}"
        )
        kind, channel = version.notification_type.key, version.channel or None
    else:
        assert ntype is not None  # a window is a rule's or a type's (a check constraint)
        cap = ntype.digest_max_items
        what = f"{len(items)} `{ntype.key}` message(s)"
        # no digest type any more (staff stopped the digest meanwhile): refused as an unknown type, and logged
        kind, channel = getattr(ntype.digest_type, "key", ""), None
    cap = max(1, cap)
    listed = [item.data for item in items[:cap]]
    since = window.opened_at.astimezone(UTC)
    until = (
        f" until {window.closes_at.astimezone(zone(window.zone) or UTC):%a %H:%M} {window.zone}" if window.zone else ""
    )
    return SubmitRequest(
        recipient=window.recipient,
        type=kind,
        channel=channel,
        data={"items": listed, "count": len(items), "more": max(0, len(items) - cap), "key": window.key},
        cause=f"digest of {what}, gathered from {since:%Y-%m-%d %H:%M} UTC{until}",
    )


def digests_flush(*, now: datetime) -> int:
    """Send every window due by `now`, once. Returns how many were sent."""
    sent = 0
    with tenancy.everything():
        while True:
            with transaction.atomic():
                due = list(
                    DigestWindow.objects.select_for_update(skip_locked=True, of=("self",))
                    .filter(state=DigestWindow.State.OPEN, closes_at__lte=now)
                    .select_related("rule", "rule_version__notification_type", "notification_type__digest_type")
                    .order_by("closes_at")[:FLUSH_BATCH]
                )
                if not due:
                    return sent
                items: dict[int, list[DigestItem]] = defaultdict(list)
                for item in (
                    DigestItem.objects.filter(window__in=due).select_related("event").order_by("created_at", "pk")
                ):
                    items[item.window_id].append(item)
                by_organisation: dict[int, list[DigestWindow]] = defaultdict(list)
                for window in due:
                    by_organisation[window.organisation_id or 0].append(window)
                for organisation, windows in by_organisation.items():
                    with tenancy.within(organisation):
                        results = notifications_submit_batch([_request(w, items[w.pk]) for w in windows])
                    for window, result in zip(windows, results, strict=True):
                        window.state, window.sent_at = DigestWindow.State.SENT, now
                        window.notification = result.notification
                        if not result.ok:
                            logger.warning("digest %s refused: %s", window.pk, result.errors)
                DigestWindow.objects.bulk_update(due, ["state", "sent_at", "notification"])
                sent += len(due)
