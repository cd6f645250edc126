"""What one notification counts as in its day's rollup, now: its group (day x organisation x type x channel x
provider x currency), which counts it adds one to (flags), its units and cost, and its time-to-deliver bucket.

Every count is a function of the notification's current row, its cost entry and its provider events, so the
same function serves the incremental pass (subtract what was counted, add this) and a rebuild (add this).

Time to deliver is kept as a histogram of buckets 2^(1/8) wide (about 9 %), so a day's percentiles can be
maintained by adding and subtracting: a percentile reads as the upper edge of its bucket.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date
from decimal import Decimal

from django.db import connection
from django.db.models import F
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from notifications.constants import Status
from notifications.models import Notification, ProviderEvent

# the counts a notification can add one to, each a bit of its flags
COUNTS = (
    "submitted",
    "sent",  # handed to a provider, whatever happened next
    "delivered",
    "failed",
    "suppressed",
    "cancelled",
    "expired",
    "still_sent",  # status `sent` now
    "bounced",
    "complained",
    "opened",
    "clicked",
    "unsubscribed",
    "digested",  # gathered into its type's digest (the digest is a notification of its own)
)
COSTED = 1 << 13  # has a cost entry: one message in the recipient's daily cost (not a rollup count)
# bit 13 was COSTED's before `digested` came: stored marks keep their meaning
BIT = {name: 1 << (i if i < 13 else i + 1) for i, name in enumerate(COUNTS)}
STATUS_COUNT: dict[str, str] = {
    Status.DELIVERED: "delivered",
    Status.FAILED: "failed",
    Status.SUPPRESSED: "suppressed",
    Status.CANCELLED: "cancelled",
    Status.EXPIRED: "expired",
    Status.SENT: "still_sent",
    Status.DIGESTED: "digested",
}
# a notification with none of these is not final yet (scheduled, queued, sending, waiting to retry, unknown)
STATUS_BITS = sum(BIT[name] for name in STATUS_COUNT.values())
EVENT_COLUMNS = ("bounced", "complained", "opened", "clicked", "unsubscribed")
BUCKETS_PER_DOUBLING = 8

GroupKey = tuple[date, int | None, int, str, str, str]  # day, organisation, type, channel, provider, currency


def ttd_bucket(milliseconds: int) -> int:
    return 0 if milliseconds <= 1 else math.ceil(math.log2(milliseconds) * BUCKETS_PER_DOUBLING)


def bucket_upper_ms(bucket: int) -> int:
    return math.floor(2 ** (bucket / BUCKETS_PER_DOUBLING))


def histogram_percentile(histogram: dict[str, int], q: float) -> int | None:
    """Nearest-rank percentile of a histogram ({bucket: count}), as its bucket's upper edge in ms."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = max(1, math.ceil(total * q)), 0
    for bucket in sorted(histogram, key=int):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_upper_ms(int(bucket))
    return None  # unreachable: seen reaches total


@dataclass(frozen=True)
class Contribution:
    notification_id: uuid.UUID
    group: GroupKey
    recipient_id: int
    flags: int
    units: int = 0
    cost: Decimal = Decimal(0)
    ttd_bucket: int | None = None

    @property
    def costed(self) -> bool:
        return bool(self.flags & COSTED)


@dataclass
class Delta:
    """What a group's counts change by."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    units: int = 0
    cost: Decimal = Decimal(0)
    ttd: dict[str, int] = field(default_factory=dict)

    def add(self, c: Contribution, sign: int) -> None:
        for name, bit in BIT.items():
            if c.flags & bit:
                self.counts[name] += sign
        self.units += sign * c.units
        self.cost += sign * c.cost
        if c.ttd_bucket is not None:
            key = str(c.ttd_bucket)
            self.ttd[key] = self.ttd.get(key, 0) + sign

    def is_zero(self) -> bool:
        return not any(self.counts.values()) and not self.units and not self.cost and not any(self.ttd.values())


def any_of(ids: list[uuid.UUID]) -> list[uuid.UUID] | RawSQL:
    """For `pk__in=`: on PostgreSQL one array parameter, not thousands (converting those was a third of a pass)."""
    return RawSQL("SELECT unnest(%s::uuid[])", (ids,)) if connection.vendor == "postgresql" else ids


def contributions_of(ids: Iterable[uuid.UUID]) -> list[Contribution]:
    """What each of these notifications counts as now (deleted ones are left out)."""
    ids = list(ids)
    events: dict[uuid.UUID, set[str]] = defaultdict(set)
    for notification_id, event_type in (
        ProviderEvent.objects.filter(notification_id__in=any_of(ids), event_type__in=EVENT_COLUMNS)
        .values_list("notification_id", "event_type")
        .distinct()
    ):
        events[notification_id].add(event_type)
    rows = (
        Notification.objects.filter(pk__in=any_of(ids))
        .annotate(cur=Coalesce(F("cost_entry__currency"), F("currency")))
        .values_list(
            "pk",
            "created_at",
            "organisation_id",
            "notification_type_id",
            "channel",
            "provider",
            "cur",
            "recipient_id",
            "status",
            "sent_at",
            "delivered_at",
            "cost_entry__units",
            "cost_entry__amount",
        )
    )
    found = []
    for (
        pk,
        created,
        org,
        type_id,
        channel,
        provider,
        cur,
        recipient,
        status,
        sent_at,
        delivered_at,
        units,
        cost,
    ) in rows:
        flags = BIT["submitted"]
        if sent_at is not None:
            flags |= BIT["sent"]
        if status in STATUS_COUNT:
            flags |= BIT[STATUS_COUNT[status]]
        for event in events.get(pk, ()):
            flags |= BIT[event]
        if units is not None:
            flags |= COSTED
        bucket = None
        if status == Status.DELIVERED and sent_at is not None and delivered_at is not None:
            bucket = ttd_bucket(max(0, int((delivered_at - sent_at).total_seconds() * 1000)))
        found.append(
            Contribution(
                notification_id=pk,
                group=(created.astimezone(UTC).date(), org, type_id, channel, provider, cur),
                recipient_id=recipient,
                flags=flags,
                units=units or 0,
                cost=cost if cost is not None else Decimal(0),
                ttd_bucket=bucket,
            )
        )
    return found
