"""The in-app inbox: a delivered in-app notification is one item in its recipient's inbox."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from commhub.tenancy import OrganisationScoped, organisation_field


class InboxItem(models.Model):
    """One in-app notification as its recipient sees it: rendered once when it was delivered, then seen, read
    and archived by them. At most one item per notification (a send repeated after a crash finds it)."""

    organisation = organisation_field()
    recipient = models.ForeignKey("preferences.Recipient", on_delete=models.CASCADE, related_name="+")
    notification = models.OneToOneField("notifications.Notification", on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=255, blank=True)
    body = models.TextField(blank=True)
    action_url = models.CharField(max_length=1000, blank=True)
    action_label = models.CharField(max_length=64, blank=True)
    category = models.CharField(max_length=64, blank=True, help_text="The notification type's category.")
    created_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(null=True, blank=True, help_text="First shown to the person.")
    read_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    objects = OrganisationScoped()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # a person's inbox, newest first (the list's every page)
            models.Index(fields=["recipient", "-created_at", "-id"], name="inbox_newest"),
            # the unread badge: counts only the unread, unarchived items of one person
            models.Index(
                fields=["recipient"], condition=Q(read_at__isnull=True, archived_at__isnull=True), name="inbox_unread"
            ),
        ]

    def __str__(self) -> str:
        return self.title or self.body[:60]


class InboxEvent(models.Model):
    """What happened to a person's inbox, in order: the stream's log. A client that reconnects with the id of the
    last event it saw (Last-Event-ID) is sent every later one, so it misses nothing."""

    class Kind(models.TextChoices):
        NEW = "new"
        SEEN = "seen"
        READ = "read"
        UNREAD = "unread"
        ARCHIVED = "archived"
        UNARCHIVED = "unarchived"

    organisation = organisation_field()
    recipient = models.ForeignKey("preferences.Recipient", on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey(InboxItem, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrganisationScoped()

    class Meta:
        indexes = [models.Index(fields=["recipient", "id"], name="inbox_event_after")]

    def __str__(self) -> str:
        return f"{self.kind} {self.item_id}"
