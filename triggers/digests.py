"""Digests: a rule whose version digests gathers its items for one recipient (and key) in a window, then sends one
notification whose template receives the list.

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
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction

from commhub import tenancy
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


def _window(version: RuleVersion, event: Event, recipient: str, key: str, zone_name: str) -> DigestWindow:
    """The open window of (rule, recipient, key), opened now if there is none (a concurrent opener wins)."""
    found = (
        DigestWindow.objects.select_for_update()
        .filter(rule_id=version.rule_id, recipient=recipient, key=key, state=DigestWindow.State.OPEN)
        .first()
    )
    if found is not None:
        return found
    if version.digest == RuleVersion.Digest.SLIDING:
        closes, used = event.occurred_at + timedelta(minutes=version.digest_minutes), ""
    else:
        closes, used = weekly_close(
            event.occurred_at, weekday=version.digest_weekday, at=version.digest_time, zone_name=zone_name
        )
    window = DigestWindow(
        organisation_id=event.organisation_id,
        rule_id=version.rule_id,
        rule_version=version,
        recipient=recipient,
        key=key,
        opened_at=event.occurred_at,
        closes_at=closes,
        zone=used,
    )
    try:
        with transaction.atomic():
            window.save(force_insert=True)
        return window
    except IntegrityError:
        return DigestWindow.objects.select_for_update().get(
            rule_id=version.rule_id, recipient=recipient, key=key, state=DigestWindow.State.OPEN
        )


def digest_add(items: list[tuple[RuleVersion, Event, str, str, dict]]) -> list[RuleRun]:
    """Put each (version, event, recipient, key, data) in its window; the runs that say where it went."""
    zones = {r.external_id: r.timezone for r in recipients_by_external_id(r for _, _, r, _, _ in items).values()}
    runs = []
    windows: dict[tuple[int, str, str], DigestWindow] = {}  # a batch's items for one window find it once
    for version, event, recipient, key, data in items:
        slot = (version.rule_id, recipient, key)
        if slot not in windows:
            windows[slot] = _window(version, event, recipient, key, zones.get(recipient, ""))
        window = windows[slot]
        _, made = DigestItem.objects.get_or_create(window=window, event=event, defaults={"data": data})
        if made:
            DigestWindow.objects.filter(pk=window.pk).update(items_count=window.items_count + 1)
            window.items_count += 1
        detail = f"in digest #{window.pk} ({window.items_count} so far), sent {window.closes_at:%Y-%m-%d %H:%M} UTC"
        runs.append(
            RuleRun(
                event=event, rule_version=version, recipient=recipient, outcome=RuleRun.Outcome.DIGESTED, detail=detail
            )
        )
    return runs


def _request(window: DigestWindow, items: list[DigestItem]) -> SubmitRequest:
    version = window.rule_version
    cap = max(1, version.digest_max_items)
    listed = [item.data for item in items[:cap]]
    names = sorted({item.event.name for item in items})
    since = window.opened_at.astimezone(UTC)
    cause = (
        f"digest of {len(items)} event(s) {', '.join(f'`{n}`' for n in names)} for rule `{window.rule.key}` "
        f"v{version.number}, gathered from {since:%Y-%m-%d %H:%M} UTC"
        + (
            f" until {window.closes_at.astimezone(zone(window.zone) or UTC):%a %H:%M} {window.zone}"
            if window.zone
            else ""
        )
    )
    return SubmitRequest(
        recipient=window.recipient,
        type=version.notification_type.key,
        channel=version.channel or None,
        data={"items": listed, "count": len(items), "more": max(0, len(items) - cap), "key": window.key},
        cause=cause,
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
                    .select_related("rule", "rule_version__notification_type")
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
