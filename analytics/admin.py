from django.contrib import admin

from commhub.admin import ReadOnlyAdmin

from .models import DailyRollup, QueueDepthSample


@admin.register(DailyRollup)
class DailyRollupAdmin(ReadOnlyAdmin):
    list_display = [
        "day",
        "notification_type",
        "channel",
        "provider",
        "submitted",
        "sent",
        "delivered",
        "failed",
        "bounced",
        "opened",
        "clicked",
        "unsubscribed",
        "cost",
        "currency",
        "ttd_p50_ms",
        "ttd_p95_ms",
    ]
    list_filter = ["channel", "notification_type", "provider"]
    date_hierarchy = "day"


@admin.register(QueueDepthSample)
class QueueDepthSampleAdmin(ReadOnlyAdmin):
    list_display = ["at", "queue", "ready", "waiting", "sending"]
    list_filter = ["queue"]
    date_hierarchy = "at"
