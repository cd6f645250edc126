"""A back office with one realistic object of every kind staff open in the admin, made the way commhub makes
them (the catalogue, the send pipeline through the fake providers, the services), for the admin smoke test and
the browser tests."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db.models import Model
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from analytics.maintenance import queue_depths_sample
from analytics.models import DailyRollup, QueueDepthSample
from analytics.rollups import rollups_build
from audit.models import AuditEntry
from broadcasts.models import Broadcast, Topic
from broadcasts.services import topic_subscribe
from calls.models import Call
from calls.services import call_schedule
from costs.models import Budget, CostEntry, PricingRule
from hooks.models import EventDelivery, EventSubscription, WebhookEndpoint
from hooks.signing import new_secret
from inbox.models import InboxItem
from notifications.delivery import queue_drain
from notifications.models import CapturedMessage, Notification, NotificationType, RecurringSend, TypeOverride
from notifications.recurring import recurring_save
from notifications.services import SubmitRequest, notification_submit
from orgs.models import Organisation
from orgs.services import organisation_create
from preferences.models import ConsentRecord, Preference, Recipient, Suppression
from preferences.services import preference_set, suppression_add
from push.models import DeviceToken, PushSubscription
from push.services import device_register
from templates_app.models import Layout, Partial, Template, TemplateVersion
from templates_app.services import version_create
from tests.factories import RecipientFactory, grant_marketing
from triggers.models import DeadEvent, DigestWindow, Event, Rule, RuleVersion
from triggers.services import EventIn, events_ingest, rule_version_draft, rule_version_publish

ALERT = {"amount": "$120.00", "account": "checking"}


def populate() -> dict[type[Model], Model]:
    """One of everything (the catalogue must be installed). Returns an object per model."""
    dana = RecipientFactory(external_id="123", email="dana@example.com", phone="+14155550123")
    grant_marketing(dana, "email")
    preference_set(recipient=dana, enabled=False, channel="sms", category="education")
    suppression, _ = suppression_add(channel="email", address="gone@example.com", reason="bounce", detail="550 5.1.1")
    # the product backend hears what happens to its notifications (the events wait: nobody delivers them here)
    events = EventSubscription.objects.create(
        organisation_id=dana.organisation_id,
        url="https://events.default-backend.example/commhub",
        events=["sent"],
        secret=new_secret(),
    )

    sent = notification_submit(SubmitRequest(recipient="123", type="financial_alert", data=ALERT))
    report = notification_submit(
        SubmitRequest(recipient="123", type="monthly_report", data={"month": "May", "summary": "You saved $240."})
    )
    queue_drain(queue="sms_critical", threads=1)
    queue_drain(queue="email_reports", threads=1)
    # what the embedded mode captures (an email whose HTML is wider than any page)
    EmailMultiAlternatives(
        subject="Your statement",
        body="Statement attached.\n" + "x" * 400,
        to=["dana@example.com"],
        headers={"X-Commhub-Notification": str(report.pk)},
        connection=get_connection("notifications.channels.capture.CaptureEmailBackend"),
        alternatives=[("<table style='width:2000px'><tr><td>" + "wide " * 300 + "</td></tr></table>", "text/html")],
    ).send()
    waiting = notification_submit(
        SubmitRequest(recipient="123", type="financial_alert", data=ALERT, send_at=timezone.now() + timedelta(days=1))
    )

    ntype = NotificationType.objects.get(key="payment_reminder")
    template = Template.objects.get(notification_type=ntype, channel="sms", locale="en")
    draft = version_create(
        template=template,
        text="Reminder: {{ bill_name }} of {{ amount }} is due {{ due_date }}. Reply STOP to opt out.",
        variables=list(template.published_version.variables),
        note="a friendlier reminder",
    )
    budget = Budget.objects.create(name="Texts per day", channel="sms", limit=Decimal("10"), currency="USD")
    notification_submit(
        SubmitRequest(
            recipient="123", type="payment_reminder", data={"bill_name": "Rent", "amount": "$1", "due_date": "today"}
        )
    )
    recurring = recurring_save(
        RecurringSend(
            name="Monday check-in",
            notification_type=NotificationType.objects.get(key="weekly_checkin"),
            audience=RecurringSend.Audience.ALL,
            data={},
            minute="0",
            hour="9",
            day_of_week="1",
            timezone="America/New_York",
        )
    )
    in_app = notification_submit(
        SubmitRequest(
            recipient="123",
            type="payment_reminder",
            channel="in_app",
            data={"bill_name": "Rent", "amount": "$1", "due_date": "today"},
        )
    )
    queue_drain(queue=in_app.queue, threads=1)
    rollups_build()
    queue_depths_sample(now=timezone.now())
    SolarSchedule.objects.get_or_create(event="sunrise", latitude=Decimal("48.85"), longitude=Decimal("2.35"))
    ClockedSchedule.objects.get_or_create(clocked_time=timezone.now() + timedelta(days=2))
    operators, _ = Group.objects.get_or_create(name="operators")
    # a staff member, not a superuser: only superusers see (and so may edit) superusers
    user, _ = get_user_model().objects.get_or_create(username="operator", defaults={"is_staff": True})
    seen = {"user_agent": "curl/8", "ip_address": "198.51.100.7", "username": "mallory", "path_info": "/api/token/"}
    attempt = AccessAttempt.objects.create(**seen, get_data="", post_data="username=mallory", failures_since_start=3)
    issued = RefreshToken.for_user(user)  # outstanding; then used once
    issued.blacklist()
    objects: dict[type[Model], Any] = {
        Recipient: dana,
        Preference: Preference.objects.filter(recipient=dana).first(),
        ConsentRecord: ConsentRecord.objects.filter(recipient=dana).first(),
        Suppression: suppression,
        Notification: Notification.objects.get(pk=sent.pk),
        NotificationType: ntype,
        CapturedMessage: CapturedMessage.objects.filter(notification_id=report.pk).first(),
        RecurringSend: recurring,
        Template: template,
        TemplateVersion: draft,
        Layout: Layout.objects.first(),
        Partial: Partial.objects.first(),
        PricingRule: PricingRule.objects.filter(channel="sms").first(),
        CostEntry: CostEntry.objects.filter(notification_id=sent.pk).first(),
        Budget: budget,
        DailyRollup: DailyRollup.objects.first(),
        QueueDepthSample: QueueDepthSample.objects.first(),
        PeriodicTask: PeriodicTask.objects.get(pk=recurring.periodic_task_id),
        IntervalSchedule: IntervalSchedule.objects.first(),
        CrontabSchedule: CrontabSchedule.objects.first(),
        SolarSchedule: SolarSchedule.objects.first(),
        ClockedSchedule: ClockedSchedule.objects.first(),
        Group: operators,
        get_user_model(): user,
        AccessAttempt: attempt,
        AccessLog: AccessLog.objects.create(**seen),
        AccessFailureLog: AccessFailureLog.objects.create(**seen, locked_out=False),
        AuditEntry: AuditEntry.objects.filter(action="suppression.add").first(),
        OutstandingToken: OutstandingToken.objects.get(jti=issued["jti"]),
        BlacklistedToken: BlacklistedToken.objects.get(token__jti=issued["jti"]),
    }
    objects[Organisation] = organisation_create(slug="marketing", name="Marketing")[0]
    objects[InboxItem] = InboxItem.objects.filter(notification_id=in_app.pk).first()
    objects[PushSubscription] = PushSubscription.objects.create(
        organisation_id=dana.organisation_id,
        recipient=dana,
        endpoint="https://fcm.googleapis.com/fcm/send/dana-laptop",
        p256dh="B" + "A" * 86,
        auth="A" * 22,
        user_agent="Firefox/140",
    )
    objects[DeviceToken] = device_register(recipient=dana, token="dana-phone-fcm-token", platform="android")[0]
    objects[WebhookEndpoint] = WebhookEndpoint.objects.create(
        organisation_id=dana.organisation_id,
        recipient=dana,
        url="https://hooks.dana-systems.example/commhub",
        description="Dana's CRM",
        secret=new_secret(),
        last_answer="answered 503",
    )
    objects[Call] = call_schedule(
        caller=user,
        callee=dana,
        reason="Dana asked about her budget",
        scheduled_at=timezone.now() + timedelta(hours=2),
        remind_callee=True,
    )
    objects[EventSubscription] = events
    objects[EventDelivery] = EventDelivery.objects.filter(subscription=events).first()
    objects[TypeOverride] = TypeOverride.objects.create(notification_type=ntype, priority=2, max_retries=5)
    # a rule that turns a failed payment into a financial alert, and an event it made one from
    dunning = Rule.objects.create(key="dunning", event_name="payment.failed", description="Tell them at once")
    live = rule_version_draft(
        rule=dunning,
        notification_type=NotificationType.objects.get(key="financial_alert"),
        condition="data.attempt >= 1",
        data_map={"amount": "data.amount", "account": "data.account"},
    )
    objects[Rule], objects[RuleVersion] = dunning, rule_version_publish(version=live)
    [taken] = events_ingest(
        [
            EventIn(
                uid="evt_2041",
                name="payment.failed",
                occurred_at=timezone.now(),
                recipients=["123"],
                data={"amount": "$49.00", "account": "checking", "attempt": 1},
            )
        ]
    )
    objects[Event] = taken.event
    weekly = Rule.objects.create(key="weekly-requests", event_name="session.requested")
    rule_version_publish(
        version=rule_version_draft(
            rule=weekly,
            notification_type=NotificationType.objects.get(key="activity_digest"),
            data_map={"title": 'data.client + " asked for a session"'},
            digest="weekly",
        )
    )
    events_ingest(
        [
            EventIn(
                uid="req-77",
                name="session.requested",
                occurred_at=timezone.now(),
                recipients=["123"],
                data={"client": "Sam"},
            )
        ]
    )
    objects[DigestWindow] = DigestWindow.objects.first()
    careers = Topic.objects.create(key="career-news", name="Career news", description="Jobs and skills, monthly")
    topic_subscribe(topic=careers, recipients=[dana])
    objects[Topic] = careers
    objects[Broadcast] = Broadcast.objects.create(
        name="Career news for May",
        notification_type=NotificationType.objects.get(key="career_insights"),
        audience=Broadcast.Audience.TOPIC,
        topic=careers,
        data={"insight": "Data skills are in demand."},
    )
    objects[DeadEvent] = DeadEvent.objects.create(
        source="kafka", where="commhub.events[0]@41", payload="{not json", reason="not JSON: Expecting property name"
    )
    missing = [model.__name__ for model, obj in objects.items() if obj is None]
    assert not missing and waiting.status == "scheduled", missing
    return objects
