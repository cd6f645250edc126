"""Staff analytics API: /api/v1/analytics/daily, /costs and /queues. Read-only, from the rollups (rebuilt by
the beat task) and, for queues, the live rows. Needs analytics.view_dailyrollup."""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from commhub.api import ChannelField
from commhub.permissions import require_perms

from ..maintenance import queue_depths
from ..models import QueueDepthSample
from ..selectors import cost_breakdown, daily_totals, rollups_in

MAX_DAYS = 366
# Dates a report can name: the ends of Python's calendar overflow a day's arithmetic (a 500 before this bound).
EARLIEST, LATEST = date(1970, 1, 1), date(9998, 12, 31)


def _within_calendar(value: date) -> None:
    if not EARLIEST <= value <= LATEST:
        raise serializers.ValidationError(f"Must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}.")


class RangeSerializer(serializers.Serializer):
    """?from=YYYY-MM-DD&to=YYYY-MM-DD (default: the last 30 days; to defaults to today; at most 366 days),
    and optional filters."""

    to = serializers.DateField(required=False, validators=[_within_calendar])
    type = serializers.SlugField(required=False)
    channel = ChannelField(required=False)
    provider = serializers.CharField(required=False, max_length=64)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateField(
            required=False, validators=[_within_calendar]
        )  # a keyword in Python, a plain name in the URL
        return fields

    def validate(self, attrs):
        end = attrs.get("to") or timezone.now().date()
        start = attrs.get("from") or end - timedelta(days=29)
        if start > end:
            raise serializers.ValidationError({"from": ["Must not be after 'to'."]})
        if (end - start).days >= MAX_DAYS:
            raise serializers.ValidationError({"from": [f"At most {MAX_DAYS} days at a time."]})
        attrs["from"], attrs["to"] = start, end
        return attrs


class CostQuerySerializer(RangeSerializer):
    group_by = serializers.ChoiceField(choices=["day", "type", "channel", "provider", "recipient"], default="day")


def _range(serializer_class, request):
    # a plain dict: an empty value (?to=) is refused as documented, not taken as absent
    s = serializer_class(data=request.query_params.dict())
    s.is_valid(raise_exception=True)
    return s.validated_data


class DailyView(APIView):
    permission_classes = [require_perms("analytics.view_dailyrollup")]

    @extend_schema(parameters=[RangeSerializer], responses={200: dict})
    def get(self, request):
        """Per day: totals over the filtered rollups (submitted, sent, delivered, failed, suppressed, cancelled,
        expired, still sent, bounced, opened, clicked, unsubscribed, digested, cost per currency, delivery rate), and
        the rollup rows themselves."""
        q = _range(RangeSerializer, request)
        filters = {"type_key": q.get("type"), "channel": q.get("channel"), "provider": q.get("provider")}
        rows = rollups_in(start=q["from"], end=q["to"], **filters)
        return Response(
            {
                "from": q["from"],
                "to": q["to"],
                "days": daily_totals(start=q["from"], end=q["to"], **filters),
                "rows": [
                    {
                        "day": r.day,
                        "type": r.notification_type.key,
                        "channel": r.channel,
                        "provider": r.provider,
                        "submitted": r.submitted,
                        "sent": r.sent,
                        "delivered": r.delivered,
                        "failed": r.failed,
                        "suppressed": r.suppressed,
                        "cancelled": r.cancelled,
                        "expired": r.expired,
                        "still_sent": r.still_sent,
                        "bounced": r.bounced,
                        "complained": r.complained,
                        "opened": r.opened,
                        "clicked": r.clicked,
                        "unsubscribed": r.unsubscribed,
                        "digested": r.digested,
                        "units": r.units,
                        "cost": r.cost,
                        "currency": r.currency,
                        "delivery_rate": r.delivery_rate,
                        "time_to_deliver_ms": {"p50": r.ttd_p50_ms, "p95": r.ttd_p95_ms},
                    }
                    for r in rows
                ],
            }
        )


class CostView(APIView):
    permission_classes = [require_perms("analytics.view_dailyrollup")]

    @extend_schema(parameters=[CostQuerySerializer], responses={200: dict})
    def get(self, request):
        """Cost between two days grouped by day, type, channel, provider or recipient (top 500)."""
        q = _range(CostQuerySerializer, request)
        return Response(
            {
                "from": q["from"],
                "to": q["to"],
                "group_by": q["group_by"],
                "results": cost_breakdown(start=q["from"], end=q["to"], group_by=q["group_by"]),
            }
        )


class QueuesView(APIView):
    permission_classes = [require_perms("analytics.view_dailyrollup")]

    @extend_schema(responses={200: dict})
    def get(self, request):
        """Queue depth now (live rows) and the last hour of samples."""
        now = timezone.now()
        samples = QueueDepthSample.objects.filter(at__gte=now - timedelta(hours=1)).order_by("at")
        return Response(
            {
                "now": queue_depths(now=now),
                "samples": [
                    {"at": s.at, "queue": s.queue, "ready": s.ready, "waiting": s.waiting, "sending": s.sending}
                    for s in samples
                ],
            }
        )
