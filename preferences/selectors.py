"""Reads for recipients, preferences, the consent ledger and suppressions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from commhub.sql import row_by, rows_by
from commhub.tenancy import acting_organisation_id

from .models import ConsentRecord, Preference, Recipient, Suppression

# commhub's own recipients: the staff mailbox (budget alerts) and each staff member's test-send recipient
STAFF_MAILBOX = "staff"
STAFF_TEST_PREFIX = "staff:"


def recipients_all() -> QuerySet[Recipient]:
    return Recipient.objects.all()


def recipients_for_audiences() -> QuerySet[Recipient]:
    """Everyone a broadcast may reach: not erased, and not one of commhub's own recipients."""
    return (
        Recipient.objects.filter(erased_at__isnull=True)
        .exclude(external_id=STAFF_MAILBOX)
        .exclude(external_id__startswith=STAFF_TEST_PREFIX)
    )


def recipients_by_external_id(external_ids: Iterable[str]) -> dict[str, Recipient]:
    """The recipients a batch submit names, in the acting organisation, in one prebuilt statement."""
    wanted = {str(e) for e in external_ids}
    found = rows_by(Recipient, "external_id", wanted, organisation_id=acting_organisation_id())
    return {r.external_id: r for r in found}


def recipient_by_external_id(external_id: str) -> Recipient | None:
    """One recipient by the product's id in the acting organisation (a single send's first read: a prebuilt
    statement)."""
    return row_by(Recipient, "external_id", str(external_id), organisation_id=acting_organisation_id())


def notification_type_for_preferences(key: str) -> Any:
    """The notification type a preference names, by key: read through the model preferences' own foreign key
    points at (preferences sits below notifications and does not import it)."""
    model = Preference._meta.get_field("notification_type").related_model
    assert isinstance(model, type)
    return model._default_manager.filter(key=key).first()


def preferences_of(recipient: Recipient) -> QuerySet[Preference]:
    return Preference.objects.filter(recipient=recipient).select_related("notification_type")


def consent_ledger(recipient: Recipient) -> QuerySet[ConsentRecord]:
    """Every ledger entry of the recipient, oldest first (the order an auditor reads it in)."""
    return ConsentRecord.objects.filter(recipient=recipient).order_by("created_at", "id")


def suppressions_all() -> QuerySet[Suppression]:
    return Suppression.objects.all()


def suppressions_for_addresses(addresses: Iterable[tuple[str, str]]) -> QuerySet[Suppression]:
    pairs = [(c, a) for c, a in addresses if a]
    if not pairs:
        return Suppression.objects.none()
    match = Q()
    for channel, address in pairs:
        match |= Q(channel=channel, address=address)
    return Suppression.objects.filter(match)


# --- what the decision engine reads ---------------------------------------------------------------------


@dataclass
class PolicyFacts:
    """Everything the consent, suppression and preference checks need for a set of recipients, read in
    three queries (a batch of 1,000 costs the same three as one send)."""

    # (organisation id, channel, address) -> the active block
    suppressions: dict[tuple[int | None, str, str], Suppression] = field(default_factory=dict)
    # (recipient id, channel, purpose, category) -> the latest ledger entry with exactly that scope
    consents: dict[tuple[int, str, str, str], ConsentRecord] = field(default_factory=dict)
    preferences: dict[int, list[Preference]] = field(default_factory=lambda: defaultdict(list))

    def latest_consent(self, recipient_id: int, channel: str, purpose: str, category: str) -> ConsentRecord | None:
        """The entry that decides: the latest of the purpose-wide one and the category's own."""
        candidates = [
            self.consents.get((recipient_id, channel, purpose, "")),
            self.consents.get((recipient_id, channel, purpose, category)) if category else None,
        ]
        present = [c for c in candidates if c is not None]
        return max(present, key=lambda c: (c.created_at, c.pk)) if present else None


def policy_facts(*, recipient_ids: Iterable[int], addresses: Iterable[tuple[int | None, str, str]]) -> PolicyFacts:
    """Active suppressions of `addresses` ((organisation id, channel, address): each organisation keeps its own
    list), the latest consent entry per scope and the preferences of `recipient_ids`."""
    ids = set(recipient_ids)
    facts = PolicyFacts()
    wanted_keys = {(o, c, a) for o, c, a in addresses if a}
    if wanted_keys:
        # one list of addresses, the exact keys (and "not lifted") kept here, in a statement built once: an OR of
        # a thousand (channel, address) conditions, or even compiling the ORM's IN list for a claimed batch, costs
        # more than PostgreSQL spends answering. Every organisation's rows: the keys name the organisation
        for s in rows_by(Suppression, "address", {a for _, _, a in wanted_keys}):
            key = (s.organisation_id, s.channel, s.address)
            if s.lifted_at is None and key in wanted_keys:
                facts.suppressions[key] = s
    if not ids:
        return facts
    # Oldest first, so the last one seen per scope is the latest.
    # the base managers' rows: the recipients are the caller's already (no join to narrow them again)
    for record in sorted(rows_by(ConsentRecord, "recipient_id", ids), key=lambda r: (r.created_at, r.id)):
        facts.consents[(record.recipient_id, record.channel, record.purpose, record.category)] = record
    for pref in rows_by(Preference, "recipient_id", ids):
        facts.preferences[pref.recipient_id].append(pref)
    return facts


@dataclass(frozen=True)
class ConsentState:
    channel: str
    purpose: str
    category: str
    action: str  # granted / withdrawn / "" (never recorded)
    since: object  # datetime or None
    source: str


def consent_current(recipient: Recipient) -> list[ConsentState]:
    """The current consent per channel x purpose (x category where one was given), derived from the ledger."""
    latest: dict[tuple[str, str, str], ConsentRecord] = {}
    for record in consent_ledger(recipient):
        latest[(record.channel, record.purpose, record.category)] = record
    return [
        ConsentState(channel=c, purpose=p, category=cat, action=r.action, since=r.created_at, source=r.source)
        for (c, p, cat), r in sorted(latest.items())
    ]


@dataclass(frozen=True)
class QuickPolicy:
    """The answers the send path needs, read in one statement (see `policy_quick`)."""

    suppressed: bool
    consent_action: str | None  # the latest applicable ledger entry's action, None when there is none
    consent_at: datetime | None
    consent_source: str | None
    preferences_off: int  # matching choices that are off
    preferences_on: int  # matching choices that are on
    preferences_on_scoped: int  # matching "on" choices naming the type or its category (opt-in needs one)


@cache
def _quick_sql(lean: bool = False) -> str:
    """Built once from model metadata (never from input). Matching preferences: this channel or every channel;
    this type, or (no type) its category or everything. The last count ignores "everything" rows: an opt-in
    type needs an "on" naming it or its category."""
    s, c, p = (m._meta.db_table for m in (Suppression, ConsentRecord, Preference))
    blank = "''"
    prefs = (
        f'SELECT COUNT(*) FROM "{p}" WHERE "recipient_id" = %s AND "enabled" = %s '  # noqa: S608 (table names from model metadata)
        f'AND ("channel" = {blank} OR "channel" = %s) '
        'AND ("notification_type_id" = %s OR ("notification_type_id" IS NULL AND "category" IN ({categories})))'
    )
    suppressed = (
        f'SELECT 1 FROM "{s}" WHERE "organisation_id" = %s AND "channel" = %s AND "address" = %s '  # noqa: S608
        'AND "lifted_at" IS NULL'
    )
    latest = (
        f'FROM "{c}" WHERE "recipient_id" = %s AND "channel" = %s AND "purpose" = %s '
        f'AND "category" IN ({blank}, %s) ORDER BY "created_at" DESC, "id" DESC LIMIT 1'
    )
    any_scope = prefs.format(categories=f"{blank}, %s")
    named_scope = prefs.format(categories="%s")
    if lean:  # the send path only needs yes or no: no date, source or "on" count (they only word a pass)
        return (
            f'SELECT EXISTS ({suppressed}), (SELECT "action" {latest}), NULL, NULL, ({any_scope}), 0, ({named_scope})'
        )
    consent = ", ".join(f"(SELECT {column} {latest})" for column in ('"action"', '"created_at"', '"source"'))
    return f"SELECT EXISTS ({suppressed}), {consent}, ({any_scope}), ({any_scope}), ({named_scope})"


def policy_quick(
    *,
    recipient_id: int,
    organisation_id: int,
    channel: str,
    address: str,
    purpose: str,
    category: str,
    type_id: int,
    lean: bool = False,
) -> QuickPolicy:
    """One round trip, no ORM compilation: this runs right before every provider call (lean: the answers a
    yes/no needs, without the details that word a passing trace step). The suppression list read is the
    organisation's."""
    latest = [recipient_id, channel, purpose, category]
    off = [recipient_id, False, channel, type_id, category]
    on = [recipient_id, True, channel, type_id, category]
    params: list[Any]
    if lean:
        params = [organisation_id, channel, address, *latest, *off, *on]
    else:
        params = [organisation_id, channel, address, *latest, *latest, *latest, *off, *on, *on]
    with connection.cursor() as cursor:
        cursor.execute(_quick_sql(lean), params)
        suppressed, action, at, source, off, on, on_scoped = cursor.fetchone()
    if isinstance(at, str):  # SQLite hands back text
        at = datetime.fromisoformat(at)
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return QuickPolicy(bool(suppressed), action, at, source, int(off), int(on), int(on_scoped))
