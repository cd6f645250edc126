"""Staff call tasks: who calls whom, when and why; the reminders sent before it; how it went.

A call is scheduled work for a staff member (the caller). The callee is a recipient commhub knows or a free-form
contact (a name and a phone). Reminders go before the call through commhub's own channels (CallReminder: one row
per call, offset and person, written before the notification so that two beats send one). The caller records the
outcome; a call with none an hour after its slot is missed and the caller's team is told. Click-to-call bridges
the caller's phone to the callee through Twilio's Calls API; Twilio's status callbacks fill in how it went.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from commhub.tenancy import OrganisationScoped, organisation_field


class Outcome(models.TextChoices):
    COMPLETED = "completed", "Completed"
    NO_ANSWER = "no_answer", "No answer"
    VOICEMAIL = "voicemail", "Left voicemail"
    RESCHEDULED = "rescheduled", "Rescheduled"
    CANCELLED = "cancelled", "Cancelled"


class Call(models.Model):
    # what whoever schedules a call gives (the admin's form; a rescheduled call copies them)
    SCHEDULING = (
        "caller",
        "callee",
        "callee_name",
        "callee_phone",
        "reason",
        "scheduled_at",
        "duration_minutes",
        "notes",
        "remind_callee",
    )

    class State(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        DONE = "done", "Outcome recorded"
        MISSED = "missed", "Missed (no outcome an hour after its slot)"

    organisation = organisation_field()
    caller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="calls")
    callee = models.ForeignKey(
        "preferences.Recipient", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    callee_name = models.CharField(max_length=200, blank=True, help_text="For a contact commhub does not know.")
    callee_phone = models.CharField(max_length=32, blank=True, help_text="E.164; the recipient's phone when blank.")
    reason = models.CharField(max_length=300)
    scheduled_at = models.DateTimeField()
    duration_minutes = models.PositiveIntegerField(default=30)
    notes = models.TextField(blank=True)
    remind_callee = models.BooleanField(
        default=False, help_text="Also remind the callee (their consent and quiet hours apply)."
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.SCHEDULED)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    outcome_notes = models.TextField(blank=True)
    outcome_at = models.DateTimeField(null=True, blank=True)
    outcome_by = models.CharField(max_length=150, blank=True)
    rescheduled_to = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="rescheduled_from"
    )
    missed_alerted_at = models.DateTimeField(null=True, blank=True)
    dial_sid = models.CharField(max_length=64, blank=True, help_text="Twilio's call sid (click-to-call).")
    dial_status = models.CharField(max_length=32, blank=True)
    dial_answered_at = models.DateTimeField(null=True, blank=True)
    dial_seconds = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrganisationScoped()

    class Meta:
        ordering = ["scheduled_at", "id"]
        indexes = [
            models.Index(fields=["scheduled_at"], name="call_scheduled", condition=Q(state="scheduled")),
            models.Index(fields=["caller", "scheduled_at"], name="call_of_caller"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(callee__isnull=False) | ~Q(callee_phone=""), name="call_has_someone_to_call"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.callee_label} at {self.scheduled_at:%Y-%m-%d %H:%M} ({self.reason[:40]})"

    @property
    def callee_label(self) -> str:
        if self.callee_id is not None and self.callee is not None:
            return self.callee_name or self.callee.external_id
        return self.callee_name or self.callee_phone

    @property
    def phone(self) -> str:
        return self.callee_phone or (self.callee.phone if self.callee is not None else "")

    @property
    def ends_at(self):
        return self.scheduled_at + timedelta(minutes=self.duration_minutes)


class CallReminder(models.Model):
    """One reminder of one call to one person at one offset: written first, so a second beat finds it taken."""

    class Whom(models.TextChoices):
        CALLER = "caller"
        CALLEE = "callee"

    organisation = organisation_field()
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="reminders")
    whom = models.CharField(max_length=8, choices=Whom.choices)
    minutes_before = models.PositiveIntegerField()
    notification = models.ForeignKey(
        "notifications.Notification", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    said = models.CharField(max_length=300, blank=True, help_text="Why none was sent, or what became of it.")
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrganisationScoped()

    class Meta:
        ordering = ["call", "-minutes_before"]
        constraints = [
            models.UniqueConstraint(fields=["call", "whom", "minutes_before"], name="one_reminder_per_offset"),
        ]

    def __str__(self) -> str:
        return f"{self.whom} reminder {self.minutes_before} min before {self.call}"
