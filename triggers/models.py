"""Events in, decisions out: what product backends report happened, and the rules staff write that turn an
event into notifications.

An event (`payment.failed`, with data) arrives through the API or a stream consumer (Kafka, Redis Streams) and
is stored once per organisation and event id: the same id twice is one event. In the transaction that stores
it, every enabled rule listening for its name evaluates: a condition (CEL) on the event, the recipients (the
event's, or an expression over its data), the notification type, the template data (expressions), an optional
delay that later events can cancel. Each outcome is a RuleRun row, linking event, rule version, recipient and
the notification made, so "why did 123 get this?" and "why not?" both have an answer.

Rules are versioned like templates: a published version is frozen, a change is a new draft published in turn.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from commhub.tenancy import OrganisationScoped, organisation_field
from notifications.models import DigestSettings


class ThroughRule(OrganisationScoped):
    path = "rule__organisation"


class ThroughEvent(OrganisationScoped):
    path = "event__organisation"


MAX_EXPRESSION = 1000  # characters: CEL is not Turing complete, and this keeps each program small


class Event(models.Model):
    class Source(models.TextChoices):
        API = "api", "API"
        KAFKA = "kafka", "Kafka"
        REDIS = "redis", "Redis Streams"
        ADMIN = "admin", "Admin"

    organisation = organisation_field()
    uid = models.CharField(max_length=200, help_text="The producer's event id: the same id twice is one event.")
    name = models.CharField(max_length=120, db_index=True)
    occurred_at = models.DateTimeField()
    actor = models.CharField(max_length=200, blank=True)
    recipients = models.JSONField(default=list, blank=True, help_text="External ids the event names.")
    data = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.API)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    rules_matched = models.PositiveIntegerField(default=0)
    notifications_made = models.PositiveIntegerField(default=0)

    objects = OrganisationScoped()

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["organisation", "uid"], name="event_once_per_organisation")]

    def __str__(self) -> str:
        return f"{self.name} #{self.uid}"


class Rule(models.Model):
    """What staff name and switch on and off; what it does is its published version."""

    organisation = organisation_field()
    key = models.SlugField(max_length=80, help_text="A name for people and traces, e.g. dunning.")
    description = models.CharField(max_length=300, blank=True)
    event_name = models.CharField(max_length=120, db_index=True, help_text="The event it listens for.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrganisationScoped()

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["organisation", "key"], name="rule_key_once_per_organisation")]

    def __str__(self) -> str:
        return self.key

    @property
    def live(self) -> RuleVersion | None:
        return self.versions.filter(state=RuleVersion.State.PUBLISHED).order_by("-number").first()


class RuleVersion(DigestSettings):
    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published (live)"
        RETIRED = "retired", "Retired"

    class Recipients(models.TextChoices):
        EVENT = "event", "The event's recipients"
        EXPRESSION = "expression", "An expression over the event (a string or a list of external ids)"
        TOPIC = "topic", "A topic's subscribers (sent as a broadcast: chunked, resumable)"

    # what a published version freezes
    BEHAVIOUR = (
        "condition",
        "recipients_from",
        "recipients_expression",
        "recipients_topic",
        "notification_type",
        "channel",
        "data_map",
        "delay_seconds",
        "cancel_on",
        "digest",
        "digest_minutes",
        "digest_weekday",
        "digest_time",
        "digest_key",
        "digest_max_items",
    )

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)
    condition = models.TextField(
        blank=True,
        max_length=MAX_EXPRESSION,
        help_text="CEL over `event` (name, id, occurred_at, actor) and `data`; blank: always. "
        'E.g. data.amount > 100 && data.plan != "free"',
    )
    recipients_from = models.CharField(max_length=10, choices=Recipients.choices, default=Recipients.EVENT)
    recipients_expression = models.CharField(max_length=MAX_EXPRESSION, blank=True, help_text="E.g. data.customer_id")
    recipients_topic = models.SlugField(max_length=80, blank=True, help_text="The topic's key, for topic recipients.")
    notification_type = models.ForeignKey("notifications.NotificationType", on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=16, blank=True, help_text="Blank: the type's and recipient's choice.")
    data_map = models.JSONField(
        default=dict,
        blank=True,
        help_text='Template variable -> CEL expression, e.g. {"amount": "data.amount", "plan": "data.plan"}. '
        "Empty: the event's data as it is.",
    )
    delay_seconds = models.PositiveIntegerField(default=0, help_text="Send this long after the event occurred.")
    cancel_on = models.JSONField(
        default=list,
        blank=True,
        help_text='Event names that cancel a delayed send to the same recipient, e.g. ["profile.completed"].',
    )
    digest_key = models.CharField(
        max_length=MAX_EXPRESSION,
        blank=True,
        help_text="CEL: items with the same key share a digest (e.g. data.therapist_id); blank: per recipient.",
    )
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True)

    objects = ThroughRule()

    class Meta:
        ordering = ["rule", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "number"], name="rule_version_number_once"),
            models.UniqueConstraint(fields=["rule"], condition=Q(state="published"), name="rule_one_published_version"),
        ]

    def __str__(self) -> str:
        return f"{self.rule.key} v{self.number}"


class RuleRun(models.Model):
    """What one rule version did with one event for one recipient (or, with no recipient, why it did nothing)."""

    class Outcome(models.TextChoices):
        SENT = "sent", "Notification made"
        DELAYED = "delayed", "Notification made, delayed"
        CANCELLED = "cancelled", "Delayed notification cancelled by a later event"
        SKIPPED = "skipped", "Condition false"
        DIGESTED = "digested", "Added to a digest"
        BROADCAST = "broadcast", "Sent to a topic as a broadcast"
        FAILED = "failed", "Rule failed (condition, recipients or data)"
        REFUSED = "refused", "Notification refused (invalid for the type or template)"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="runs")
    rule_version = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="runs")
    recipient = models.CharField(max_length=200, blank=True, help_text="The recipient's external id.")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    notification = models.OneToOneField(
        "notifications.Notification", null=True, blank=True, on_delete=models.SET_NULL, related_name="rule_run"
    )
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ThroughEvent()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # a later event's cancellations: delayed runs of one recipient
            models.Index(fields=["recipient"], name="rule_run_delayed_idx", condition=Q(outcome="delayed")),
        ]

    def __str__(self) -> str:
        return f"{self.rule_version} on {self.event_id} for {self.recipient or '-'}: {self.outcome}"


class ThroughWindow(OrganisationScoped):
    path = "window__organisation"


class DigestWindow(models.Model):
    """One digest being gathered: a rule's items (events), or a digesting type's (its messages), for one
    recipient (and key) until `closes_at`, then one notification. A row, so a restart loses nothing; flushed once
    (a claim), however many beats run."""

    class State(models.TextChoices):
        OPEN = "open", "Gathering"
        SENT = "sent", "Sent"

    organisation = organisation_field()
    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.CASCADE, related_name="digests")
    rule_version = models.ForeignKey(RuleVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    notification_type = models.ForeignKey(
        "notifications.NotificationType",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="A digesting type's window (no rule): its messages are the items.",
    )
    recipient = models.CharField(max_length=200)
    key = models.CharField(max_length=200, blank=True)
    opened_at = models.DateTimeField()
    closes_at = models.DateTimeField()
    zone = models.CharField(max_length=64, blank=True, help_text="The recipient's zone a weekly window closed in.")
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    items_count = models.PositiveIntegerField(default=0)
    notification = models.OneToOneField(
        "notifications.Notification", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = OrganisationScoped()

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "recipient", "key"], condition=Q(state="open"), name="digest_one_open_window"
            ),
            models.UniqueConstraint(
                fields=["organisation", "notification_type", "recipient", "key"],
                condition=Q(state="open", rule__isnull=True),
                name="digest_one_open_type_window",
            ),
            models.CheckConstraint(
                condition=Q(rule__isnull=False, notification_type__isnull=True)
                | Q(rule__isnull=True, notification_type__isnull=False),
                name="digest_of_rule_or_type",
            ),
        ]
        indexes = [models.Index(fields=["closes_at"], name="digest_due_idx", condition=Q(state="open"))]

    def __str__(self) -> str:
        of = self.rule if self.rule_id else self.notification_type
        until = f"{self.closes_at:%Y-%m-%d %H:%M} UTC" if self.closes_at else "?"
        return f"{of} digest for {self.recipient}{f' ({self.key})' if self.key else ''} until {until}"


class DigestItem(models.Model):
    window = models.ForeignKey(DigestWindow, on_delete=models.CASCADE, related_name="items")
    event = models.ForeignKey(Event, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    notification = models.OneToOneField(
        "notifications.Notification",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="A digesting type's message this item is.",
    )
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ThroughWindow()

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["window", "event"], name="digest_item_once")]

    def __str__(self) -> str:
        return f"{self.event_id or self.notification_id} in {self.window_id}"


class DeadEvent(models.Model):
    """A message a stream consumer could not take as an event: kept with the reason, the stream goes on."""

    organisation = organisation_field()
    source = models.CharField(max_length=8, choices=Event.Source.choices)
    where = models.CharField(max_length=300, help_text="Topic, partition and offset; or stream and entry id.")
    payload = models.TextField(help_text="The message as it came (first 64 KB).")
    reason = models.TextField()
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = OrganisationScoped()

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.source} {self.where}: {self.reason[:60]}"
