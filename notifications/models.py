"""Notification types, notifications, delivery attempts and captured messages."""

from __future__ import annotations

import copy
import uuid
from datetime import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from commhub import channels
from commhub.queues import Tier, queue_name
from commhub.tenancy import OrganisationScoped, ThroughNotification, ThroughRecurring, organisation_field

from .constants import CapAction, DigestKind, PreferencePolicy, Purpose, Status, priority_name


class DigestSettings(models.Model):
    """How a digest's window is drawn: a type's (its messages) or a rule version's (its events)."""

    digest = models.CharField(
        max_length=8,
        choices=DigestKind.choices,
        blank=True,
        default=DigestKind.NONE,
        help_text="Gather items per recipient (and key) and send one notification listing them when the window closes.",
    )
    digest_minutes = models.PositiveIntegerField(default=30, help_text="A sliding window's length.")
    digest_weekday = models.PositiveSmallIntegerField(
        default=0,
        choices=list(enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))),
        help_text="A weekly digest's day.",
    )
    digest_time = models.TimeField(default=time(9, 0), help_text="A weekly digest's hour, in the recipient's zone.")
    digest_max_items = models.PositiveIntegerField(
        default=20, validators=[MinValueValidator(1)], help_text='Items listed; the rest are "and N more".'
    )

    class Meta:
        abstract = True


class NotificationType(DigestSettings):
    """What a backend can trigger ("financial_alert"), with its delivery policy. The channels it may use, each
    with its rate limit, are its `type_channels` rows."""

    key = models.SlugField(max_length=64, unique=True, help_text="The trigger type, e.g. financial_alert.")
    name = models.CharField(max_length=128)
    description = models.TextField(blank=True)
    priority = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(9)], help_text="1 is most urgent."
    )
    default_channel = models.CharField(max_length=16, choices=channels.choices)
    fallback_channel = models.CharField(
        max_length=16, choices=channels.choices, blank=True, help_text="Tried when the primary channel fails."
    )
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.DAILY)
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.TRANSACTIONAL)
    category = models.SlugField(
        max_length=64, default="general", help_text="Groups types for preferences and one-click unsubscribe."
    )
    default_locale = models.CharField(
        max_length=16, default="en", help_text="Templates fall back to it after the recipient's locale and language."
    )
    preference_policy = models.CharField(
        max_length=16, choices=PreferencePolicy.choices, default=PreferencePolicy.OPT_OUT
    )
    respects_quiet_hours = models.BooleanField(
        default=True, help_text="Deferred outside the recipient's send window (always, for marketing)."
    )
    frequency_cap_count = models.PositiveIntegerField(
        default=0, help_text="At most this many per recipient per window; 0 = no cap."
    )
    frequency_cap_window_hours = models.PositiveIntegerField(default=0, help_text="The cap's window, in hours.")
    frequency_cap_action = models.CharField(max_length=8, choices=CapAction.choices, default=CapAction.DEFER)
    digest_type = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The type a digest goes as: its templates receive items (each message's data), count and more.",
    )
    digest_key = models.CharField(
        max_length=64,
        blank=True,
        help_text="A field of the message's data (e.g. therapist_id): messages with the same value share a digest; "
        "blank: one digest per recipient.",
    )
    ttl_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Time to live: a message not handed to a provider this long after it was due ends 'expired', "
        "never sent late (an alert after an outage). Blank: no expiry.",
    )
    max_retries = models.PositiveSmallIntegerField(default=2, help_text="Retries after the first attempt.")
    retry_base_delay = models.PositiveIntegerField(
        default=300, help_text="Seconds before the first retry; doubles on each further retry."
    )
    is_active = models.BooleanField(default=True)
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Days after which a finished notification's words and personal data are purged (the row, its "
        "status, counts and costs stay). Blank: COMMHUB_RETENTION_DAYS (0 there: kept).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "key"]

    def __str__(self) -> str:
        return self.key

    def _channel_rules(self) -> dict[str, TypeChannel]:
        # the catalogue snapshot prefetches them: no query per message, and the dict is built once per prefetch
        prefetched = getattr(self, "_prefetched_objects_cache", {}).get("type_channels")
        if prefetched is None:
            return {rule.channel: rule for rule in self.type_channels.all()}
        built = self.__dict__.get("_channel_rules_built")
        if built is None or built[0] is not prefetched:
            built = self.__dict__["_channel_rules_built"] = (prefetched, {rule.channel: rule for rule in prefetched})
        return built[1]

    def rate_limit_for(self, channel: str) -> int | None:
        """Messages per minute on `channel` to one recipient; None: no limit (or the channel is not allowed)."""
        rule = self._channel_rules().get(channel)
        return rule.rate_limit_per_minute if rule is not None else None

    def global_rate_limit_for(self, channel: str) -> int | None:
        """Messages per minute on `channel` to everyone together; None: no cap."""
        rule = self._channel_rules().get(channel)
        return rule.global_rate_limit_per_minute if rule is not None else None

    def allows(self, channel: str) -> bool:
        return channel in self._channel_rules()

    @property
    def allowed_channels(self) -> list[str]:
        rules = self._channel_rules()
        return [name for name in channels.names() if name in rules]

    @property
    def has_frequency_cap(self) -> bool:
        return bool(self.frequency_cap_count and self.frequency_cap_window_hours)

    @property
    def priority_name(self) -> str:
        return priority_name(self.priority)

    def clean(self) -> None:
        # That the default and fallback channels are among the type's channels is checked with the channel rows
        # (TypeChannelFormSet in the admin): they are saved after the type.
        errors = {}
        if self.fallback_channel and self.fallback_channel == self.default_channel:
            errors["fallback_channel"] = "The fallback must differ from the default channel."
        if self.purpose == Purpose.MARKETING and not self.respects_quiet_hours:
            errors["respects_quiet_hours"] = "Marketing messages must respect quiet hours (TCPA 47 CFR 64.1200)."
        if self.purpose == Purpose.MARKETING and self.preference_policy == PreferencePolicy.REQUIRED:
            errors["preference_policy"] = "Marketing cannot be required: recipients must be able to turn it off."
        if bool(self.frequency_cap_count) != bool(self.frequency_cap_window_hours):
            errors["frequency_cap_window_hours"] = "Give both the cap and its window, or neither."
        if self.digest and self.digest_type_id is None:
            errors["digest_type"] = "A digesting type needs the type its digest goes as."
        elif self.digest and (self.digest_type_id == self.pk or getattr(self.digest_type, "digest", "")):
            errors["digest_type"] = "The digest must go as a type that does not digest itself."
        if self.digest == DigestKind.SLIDING and not self.digest_minutes:
            errors["digest_minutes"] = "A sliding window lasts at least a minute."
        if errors:
            raise ValidationError(errors)


class TypeChannel(models.Model):
    """A channel a notification type may use, how many a minute one person may get (the catalogue's limit), and an
    optional cap for everyone together."""

    notification_type = models.ForeignKey(NotificationType, on_delete=models.CASCADE, related_name="type_channels")
    channel = models.CharField(max_length=16, choices=channels.choices)
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="At most this many per minute to one recipient (the excess waits); blank: no limit.",
    )
    global_rate_limit_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Optional: at most this many per minute to everyone together, across all workers; blank: no cap.",
    )

    class Meta:
        ordering = ["notification_type", "channel"]
        verbose_name = "channel"
        constraints = [models.UniqueConstraint(fields=["notification_type", "channel"], name="type_channel_once")]

    def __str__(self) -> str:
        limit = f"{self.rate_limit_per_minute}/min per recipient" if self.rate_limit_per_minute else "no limit"
        cap = f", {self.global_rate_limit_per_minute}/min in all" if self.global_rate_limit_per_minute else ""
        return f"{self.channel} ({limit}{cap})"


class TypeOverride(models.Model):
    """An organisation's own settings for a shared notification type: it switches the type off for itself, or
    sends it with another priority, default channel, retries or time to live. Blank: as the catalogue. Applied
    when a message is submitted (the row keeps what was decided)."""

    OVERRIDABLE = ("is_active", "priority", "default_channel", "max_retries", "ttl_seconds")

    organisation = organisation_field()
    notification_type = models.ForeignKey(NotificationType, on_delete=models.CASCADE, related_name="overrides")
    is_active = models.BooleanField(null=True, blank=True, help_text="Blank: as the catalogue.")
    priority = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(9)], help_text="1 is most urgent."
    )
    default_channel = models.CharField(max_length=16, choices=channels.choices, blank=True)
    max_retries = models.PositiveSmallIntegerField(null=True, blank=True)
    ttl_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: as the catalogue.")
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrganisationScoped()

    class Meta:
        ordering = ["notification_type__key"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "notification_type"],
                name="type_override_once_per_organisation",
                violation_error_message="This organisation overrides this type already: change that override.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.notification_type_id and self.notification_type.key} for organisation {self.organisation_id}"

    def clean(self) -> None:
        if (
            self.default_channel
            and self.notification_type_id
            and not self.notification_type.allows(self.default_channel)
        ):
            raise ValidationError(
                {"default_channel": f"{self.notification_type.key} is not sent by {self.default_channel}."}
            )

    def applied_to(self, ntype: NotificationType) -> NotificationType:
        """A copy of the shared type with this organisation's settings (the shared object is never changed)."""
        effective = copy.copy(ntype)
        for name in self.OVERRIDABLE:
            value = getattr(self, name)
            if value not in (None, ""):
                setattr(effective, name, value)
        return effective


class Notification(models.Model):
    """One message to one recipient on one channel. The row is the queue of record."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # the recipient's, copied so that every list narrows without a join. No constraint (the recipient's own
    # foreign key guarantees it; a check per inserted row taxed the batch ingest) and no index: every status
    # change writes an entry in every index (+10 % worker CPU per message, measured); a list reads created_at's
    # index newest first and skips other organisations' rows
    organisation = organisation_field(db_index=False, db_constraint=False)
    # Index economy: every status change rewrites an entry in every index of this table, so foreign keys
    # covered by a composite index (recipient) or only needed for rare deletes (template, submitted_by) get
    # none of their own, and the fallback / provider-id indexes are partial.
    recipient = models.ForeignKey(
        "preferences.Recipient", on_delete=models.PROTECT, related_name="notifications", db_index=False
    )
    notification_type = models.ForeignKey(NotificationType, on_delete=models.PROTECT, related_name="notifications")
    channel = models.CharField(max_length=16, choices=channels.choices)
    priority = models.PositiveSmallIntegerField(default=5)
    queue = models.CharField(max_length=32, help_text="The channel x tier queue that wakes its worker.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    data = models.JSONField(default=dict, blank=True)
    # Why this notification was allowed (or not): a list of {"check", "outcome", "reason"}.
    decision_trace = models.JSONField(default=list, blank=True)

    template = models.ForeignKey(
        "templates_app.Template", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # The exact (frozen) version it is rendered from, chosen at submit: a later publish changes nothing here.
    template_version = models.ForeignKey(
        "templates_app.TemplateVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    to_address = models.CharField(max_length=254, blank=True, help_text="Email or phone used for the send.")
    rendered_subject = models.CharField(max_length=998, blank=True)
    rendered_body = models.TextField(blank=True)
    rendered_html = models.TextField(blank=True)

    send_at = models.DateTimeField(default=timezone.now, help_text="Not sent before this moment.")
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Not sent after this moment (the type's time to live from when it was due)."
    )
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Provider calls made so far.")
    max_attempts = models.PositiveSmallIntegerField(default=1, help_text="The type's retries + 1, at submit.")
    claims = models.PositiveSmallIntegerField(default=0, help_text="Times a worker claimed the row.")
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    error_code = models.CharField(max_length=64, blank=True)

    provider = models.CharField(max_length=64, blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    segments = models.PositiveSmallIntegerField(null=True, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")

    fallback_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="fallbacks",
        db_index=False,
        help_text="The notification this one replaces after its channel failed.",
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(
        null=True, blank=True, help_text="Its words and personal data were purged by the type's retention."
    )

    objects = OrganisationScoped()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The claim: ready rows of one queue, most urgent first.
            models.Index(fields=["queue", "priority", "send_at"], name="notif_claim_idx", condition=Q(status="queued")),
            # The dispatcher: scheduled and retry-waiting rows by due time.
            models.Index(fields=["send_at"], name="notif_due_idx", condition=Q(status__in=["scheduled", "pending"])),
            # The sweeper: claimed rows by lease expiry.
            models.Index(fields=["lease_expires_at"], name="notif_lease_idx", condition=Q(status="sending")),
            models.Index(fields=["status", "created_at"], name="notif_status_created_idx"),
            models.Index(fields=["recipient", "created_at"], name="notif_recipient_created_idx"),
            models.Index(
                fields=["provider_message_id"], name="notif_provider_msg_idx", condition=~Q(provider_message_id="")
            ),
            models.Index(fields=["fallback_of"], name="notif_fallback_of_idx", condition=Q(fallback_of__isnull=False)),
            # The incremental rollup pass: rows changed since its watermark.
            models.Index(fields=["updated_at"], name="notif_updated_idx"),
        ]
        permissions = [
            ("send_notification", "Can send notifications"),
            ("cancel_notification", "Can cancel notifications"),
            ("retry_notification", "Can retry failed notifications"),
        ]

    def __str__(self) -> str:
        # what staff recognise: the type, the product's id for the person, the channel
        ntype = self.notification_type.key if self.notification_type_id else "?"
        who = self.recipient.external_id if self.recipient_id else "?"
        return f"{ntype} to {who} by {self.channel}"

    @staticmethod
    def queue_for(channel: str, tier: str, priority: int) -> str:
        """Critical priority rides the critical queue whatever the type's usual tier."""
        return queue_name(channel, Tier.CRITICAL if priority <= 1 else tier)


class DeliveryAttempt(models.Model):
    """One provider call for a notification, successful or not."""

    # What staff and API clients see of an attempt (the admin inline and the API detail).
    PUBLIC_FIELDS = [
        "number",
        "provider",
        "outcome",
        "provider_message_id",
        "error_code",
        "error_message",
        "started_at",
        "duration_ms",
    ]

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Accepted by provider"
        TRANSIENT = "transient", "Transient error (retried)"
        PERMANENT = "permanent", "Permanent error"
        UNKNOWN = "unknown", "No answer (the provider may have it)"

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="attempts_log")
    number = models.PositiveSmallIntegerField()
    provider = models.CharField(max_length=64)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    provider_message_id = models.CharField(max_length=255, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()

    objects = ThroughNotification()

    class Meta:
        ordering = ["notification", "number"]

    def __str__(self) -> str:
        return f"#{self.number} {self.provider} {self.outcome}"


class CapturedMessage(models.Model):
    """A message the embedded mode captured instead of sending (readable in the admin)."""

    channel = models.CharField(max_length=16, choices=channels.choices)
    # a reference without a constraint: a capture outlives a purged notification (it was the column of a plain
    # UUID before: migration 0016 changed only how Django sees it, so that the list narrows by its organisation)
    notification = models.ForeignKey(
        Notification, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    to = models.CharField(max_length=998)
    from_address = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    body = models.TextField(blank=True)
    html = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    message_id = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = ThroughNotification()  # a capture of no notification: superusers only

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.channel} to {self.to}: {self.subject or self.body[:40]}"


class IdempotencyKey(models.Model):
    """A client's `Idempotency-Key`: the first request's fingerprint and, once answered, its response.

    The key is inserted (committed) before the request runs, so a concurrent duplicate sees it and gets 409.
    The response is stored in the same transaction as the notifications the request created: either both
    exist or neither. A key left `in_progress` past its lease belongs to a request that died before
    committing anything, so a retry may take it over.
    """

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Answered"

    client = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    locked_until = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="idempotency_key_per_client")]

    def __str__(self) -> str:
        return f"{self.client_id}:{self.key} ({self.state})"


class ProviderEvent(models.Model):
    """One event a provider reported about a sent message (delivered, bounced, opened, ...), recorded once per
    provider event id however often the provider resends it."""

    notification = models.ForeignKey(
        Notification, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    provider = models.CharField(max_length=64)
    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=32)
    address = models.CharField(max_length=254, blank=True)
    description = models.TextField(blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = ThroughNotification()

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["provider", "event_id"], name="provider_event_once")]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type} ({self.event_id})"


class RateLimitState(models.Model):
    """One rate-limit bucket when no Redis is configured: the theoretical arrival time (epoch seconds) of its
    next unit (see notifications.ratelimit)."""

    key = models.CharField(max_length=200, primary_key=True)
    tat = models.FloatField(default=0.0)

    def __str__(self) -> str:
        return f"{self.key} @ {self.tat:.3f}"


class RecurringSend(models.Model):
    """A send staff schedule in the admin: one type, an audience, data and a crontab. Saving it creates or
    updates its django-celery-beat schedule (see notifications/recurring.py); each run is a RecurringRun."""

    class Audience(models.TextChoices):
        ALL = "all", "All recipients"
        FILTER = "filter", "Recipients whose attributes match"
        LIST = "list", "A list of recipients"

    organisation = organisation_field()
    name = models.CharField(max_length=100)
    notification_type = models.ForeignKey(NotificationType, on_delete=models.PROTECT, related_name="recurring_sends")
    channel = models.CharField(max_length=16, choices=channels.choices, blank=True, help_text="Blank: the type's.")
    audience = models.CharField(max_length=8, choices=Audience.choices, default=Audience.ALL)
    attribute_filter = models.JSONField(
        default=dict, blank=True, help_text='Recipients whose attributes have these values, e.g. {"plan": "pro"}.'
    )
    recipient_ids = models.TextField(blank=True, help_text="External ids, one per line or comma-separated.")
    data = models.JSONField(default=dict, blank=True, help_text="The template data of every notification.")
    minute = models.CharField(max_length=64, default="0")
    hour = models.CharField(max_length=64, default="9")
    day_of_week = models.CharField(max_length=64, default="*", help_text="0 or 7 = Sunday, 1 = Monday, ... or mon-fri.")
    day_of_month = models.CharField(max_length=64, default="*")
    month_of_year = models.CharField(max_length=64, default="*")
    timezone = models.CharField(
        max_length=64, default="UTC", help_text="The crontab's zone (and the zone of recipients with none)."
    )
    local_time = models.BooleanField(
        default=False,
        help_text="Send at this hour and minute in each recipient's own timezone (e.g. Monday 09:00 local).",
    )
    every_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Instead of the crontab: every this many seconds (tests, demos)."
    )
    enabled = models.BooleanField(default=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, editable=False, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrganisationScoped()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organisation", "name"], name="recurring_name_per_organisation")]

    def __str__(self) -> str:
        return self.name

    @property
    def schedule_text(self) -> str:
        if self.every_seconds:
            return f"every {self.every_seconds}s"
        cron = f"{self.minute} {self.hour} {self.day_of_month} {self.month_of_year} {self.day_of_week}"
        zone = "each recipient's own timezone" if self.local_time else self.timezone
        return f"{cron} ({zone})"


class RecurringRun(models.Model):
    """One occurrence of a recurring send: at most one per slot, however many beat processes fire it."""

    recurring = models.ForeignKey(RecurringSend, on_delete=models.CASCADE, related_name="runs")
    slot = models.DateTimeField(help_text="The occurrence this run is for.")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    created = models.PositiveIntegerField(default=0, help_text="Notifications accepted (queued or scheduled).")
    refused = models.PositiveIntegerField(default=0, help_text="Refused by the decision engine (consent, caps...).")
    errors = models.PositiveIntegerField(default=0, help_text="Rejected as invalid (e.g. missing template data).")
    detail = models.TextField(blank=True)
    late = models.BooleanField(
        default=False, help_text="Started well after its slot (e.g. made up after beat was down)."
    )
    missed = models.BooleanField(default=False, help_text="Never sent: beat was down past the catch-up grace.")

    objects = ThroughRecurring()

    class Meta:
        ordering = ["-slot"]
        constraints = [models.UniqueConstraint(fields=["recurring", "slot"], name="recurring_run_once_per_slot")]

    def __str__(self) -> str:
        return f"{self.recurring_id} @ {self.slot:%Y-%m-%d %H:%M:%S}: {self.created} created"


class WorkerHeartbeat(models.Model):
    """A Celery worker saying it is alive (every COMMHUB_HEARTBEAT_SECONDS); /health and /metrics read it."""

    name = models.CharField(max_length=200, primary_key=True, help_text="The worker's node name (name@host).")
    queues = models.CharField(max_length=500, blank=True)
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.name} (seen {self.last_seen:%H:%M:%S})"
