"""What organisations change beyond visibility: each one's sends use its own recipients, templates, budgets,
suppressions and throttle; the send path carries the organisation through the real worker pipeline (the fake
providers' wire protocol); commands act in the organisation they name."""

from __future__ import annotations

import uuid
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient
from twilio.request_validator import RequestValidator

from commhub import tenancy
from commhub.errors import InvalidInput
from costs.models import Budget
from notifications.constants import Status
from notifications.delivery import queue_drain
from notifications.models import Notification, NotificationType, RecurringSend, TypeOverride
from notifications.recurring import recurring_run, recurring_save
from notifications.services import SubmitRequest, notification_submit
from orgs.services import organisation_create
from preferences.models import Suppression
from preferences.services import suppression_add
from templates_app.models import Template
from templates_app.services import template_create, version_create, version_publish
from tests.factories import RecipientFactory
from tests.fakes.providers import TWILIO

pytestmark = pytest.mark.django_db

ALERT = {"amount": "$120.00", "account": "checking"}
VARIABLES = [
    {"name": "amount", "type": "string", "required": True, "sample": "$1"},
    {"name": "account", "type": "string", "required": True, "sample": "x"},
]


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _token(out: str) -> str:
    return next(line.split()[-1] for line in out.splitlines() if line.startswith("access:"))


@pytest.fixture
def beta(catalogue):
    organisation, _ = organisation_create(slug="beta", name="Beta")
    return organisation


def test_the_worker_sends_each_organisations_message_with_its_own_template(beta, via_fakes):
    RecipientFactory(external_id="same-id", phone="+14155550101")
    with tenancy.within(beta.pk):
        RecipientFactory(external_id="same-id", phone="+14155550202")  # another person, same product id
        own = template_create(
            notification_type=NotificationType.objects.get(key="financial_alert"), channel="sms", locale="en"
        )
        version_publish(
            version=version_create(template=own, text="Beta: {{ amount }} ({{ account }})", variables=VARIABLES)
        )
        theirs = notification_submit(SubmitRequest(recipient="same-id", type="financial_alert", data=ALERT))
    ours = notification_submit(SubmitRequest(recipient="same-id", type="financial_alert", data=ALERT))
    queue_drain(queue=ours.queue)  # the worker serves every organisation
    bodies = {r.fields["To"]: r.fields["Body"] for r in via_fakes.sent(TWILIO)}
    assert bodies["+14155550202"] == "Beta: $120.00 (checking)"
    assert "Beta" not in bodies["+14155550101"]  # the shared default
    theirs.refresh_from_db()
    ours.refresh_from_db()
    assert (theirs.status, theirs.organisation_id, theirs.template_id) == (Status.SENT, beta.pk, own.pk)
    assert ours.organisation_id == tenancy.DEFAULT_ORGANISATION_ID and ours.template.organisation_id is None


def test_a_budget_counts_and_refuses_its_own_organisations_messages_only(beta, via_fakes):
    RecipientFactory(external_id="a", phone="+14155550101")
    with tenancy.within(beta.pk):
        RecipientFactory(external_id="b", phone="+14155550202")
        Budget.objects.create(name="nothing", channel="sms", limit=Decimal("0"), currency="USD")
        refused = notification_submit(SubmitRequest(recipient="b", type="payment_reminder", data=_REMINDER))
    allowed = notification_submit(SubmitRequest(recipient="a", type="payment_reminder", data=_REMINDER))
    assert refused.status == Status.SUPPRESSED and refused.error_code == "budget"
    assert allowed.status == Status.QUEUED


_REMINDER = {"bill_name": "Rent", "amount": "$900", "due_date": "Friday"}


def test_a_stop_blocks_the_number_in_every_organisation_that_knows_it(beta, client, via_fakes):
    RecipientFactory(external_id="a", phone="+14155550123")
    with tenancy.within(beta.pk):
        RecipientFactory(external_id="b", phone="+14155550123")
    url = "http://testserver/webhooks/twilio/inbound"
    params = {"From": "+14155550123", "To": "+15005550006", "Body": "STOP", "MessageSid": f"SM{uuid.uuid4().hex}"}
    signature = RequestValidator(via_fakes.twilio_token).compute_signature(url, params)
    assert client.post("/webhooks/twilio/inbound", params, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 200
    with tenancy.everything():
        blocked = set(Suppression.objects.filter(address="+14155550123").values_list("organisation_id", flat=True))
    assert blocked == {tenancy.DEFAULT_ORGANISATION_ID, beta.pk}


def test_a_suppression_added_by_one_organisation_does_not_silence_another(beta, via_fakes):
    RecipientFactory(external_id="a", phone="+14155550123")
    with tenancy.within(beta.pk):
        RecipientFactory(external_id="b", phone="+14155550123")
        suppression_add(channel="sms", address="+14155550123", reason="manual")
        blocked = notification_submit(SubmitRequest(recipient="b", type="payment_reminder", data=_REMINDER))
    free = notification_submit(SubmitRequest(recipient="a", type="payment_reminder", data=_REMINDER))
    assert blocked.status == Status.SUPPRESSED and free.status == Status.QUEUED
    # nor at the re-check right before the provider call (its own statement: the worker's fast path)
    queue_drain(queue=free.queue)
    free.refresh_from_db()
    assert free.status == Status.SENT and [r.fields["To"] for r in via_fakes.sent(TWILIO)] == ["+14155550123"]


def test_a_recurring_send_reaches_its_own_organisations_recipients(beta):
    RecipientFactory(external_id="a", email="a@example.com")
    with tenancy.within(beta.pk):
        RecipientFactory(external_id="b", email="b@beta.example")
        recurring = recurring_save(
            RecurringSend(
                name="weekly",
                notification_type=NotificationType.objects.get(key="weekly_checkin"),
                audience=RecurringSend.Audience.ALL,
                minute="0",
                hour="9",
                timezone="UTC",
            )
        )
    run_ = recurring_run(recurring.pk)  # as beat runs it: no organisation in scope
    assert run_ is not None and run_.created + run_.refused == 1, run_.detail  # (marketing without consent: refused)
    with tenancy.everything():
        made = Notification.objects.filter(notification_type__key="weekly_checkin")
        assert [(n.recipient.external_id, n.organisation_id) for n in made] == [("b", beta.pk)]


def test_commands_put_clients_and_staff_in_the_organisation_they_name(beta, client):
    RecipientFactory(external_id="a")
    with tenancy.within(beta.pk):
        RecipientFactory(external_id="b")
    token = _token(run("create_api_client", "beta-backend", "--organisation", "beta"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    seen = [r["external_id"] for r in api.get("/api/v1/recipients/").json()["results"]]
    assert seen == ["b"]
    assert "organisation beta" in run("create_staff_user", "ann", "--role", "Viewer", "--organisation", "beta")
    with pytest.raises(CommandError, match="No organisation 'gamma'"):
        run("create_api_client", "x", "--organisation", "gamma")
    with pytest.raises(CommandError, match="slug"):
        run("create_organisation", "not a slug!")


def test_requeue_can_be_limited_to_one_organisation(beta, via_fakes):
    RecipientFactory(external_id="a", phone="+14155550101")
    with tenancy.within(beta.pk):
        RecipientFactory(external_id="b", phone="+14155550202")
        theirs = notification_submit(SubmitRequest(recipient="b", type="payment_reminder", data=_REMINDER))
    ours = notification_submit(SubmitRequest(recipient="a", type="payment_reminder", data=_REMINDER))
    Notification.objects.filter(pk__in=[theirs.pk, ours.pk]).update(status=Status.FAILED, error_code="x")
    assert "1 requeued" in run("requeue", "--organisation", "beta", "--quiet")
    assert Notification.objects.get(pk=theirs.pk).status == Status.QUEUED
    assert Notification.objects.get(pk=ours.pk).status == Status.FAILED


def test_a_deactivated_organisations_clients_are_refused(beta):
    token = _token(run("create_api_client", "beta-backend", "--organisation", "beta"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/v1/recipients/").status_code == 200
    beta.is_active = False
    beta.save()
    refused = api.get("/api/v1/recipients/")
    assert refused.status_code == 401 and refused.json()["detail"] == "This organisation is deactivated."


def test_an_organisations_clients_share_its_send_rate(beta, settings):
    settings.COMMHUB = {**settings.COMMHUB, "THROTTLE_ORGANISATION_SENDS": "3/min", "THROTTLE_SENDS": "100/min"}
    with tenancy.within(beta.pk):
        RecipientFactory(external_id="b", phone="+14155550202")
    clients = []
    for name in ("beta-one", "beta-two"):
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {_token(run('create_api_client', name, '--organisation', 'beta'))}")
        clients.append(api)
    send = {"recipient": "b", "type": "payment_reminder", "data": _REMINDER}
    answers = [clients[i % 2].post("/api/v1/notifications/", send, format="json").status_code for i in range(4)]
    assert answers == [202, 202, 202, 429]
    # the default organisation's clients draw from their own bucket
    RecipientFactory(external_id="a", phone="+14155550101")
    default = APIClient()
    default.credentials(HTTP_AUTHORIZATION=f"Bearer {_token(run('create_api_client', 'default-one'))}")
    mine = {**send, "recipient": "a"}
    assert default.post("/api/v1/notifications/", mine, format="json").status_code == 202


def test_templates_table_holds_one_shared_and_one_own_per_slot(beta):
    ntype = NotificationType.objects.get(key="financial_alert")
    with tenancy.within(beta.pk):
        template_create(notification_type=ntype, channel="sms", locale="en")
        with pytest.raises(ValidationError, match="exists already"):
            template_create(notification_type=ntype, channel="sms", locale="en")
    with tenancy.everything():
        assert Template.objects.filter(notification_type=ntype, channel="sms", locale="en").count() == 2


def test_an_organisation_prices_its_messages_with_its_own_rates_and_cannot_touch_the_shared_list(beta, client):
    """Its staff add a rate in the admin (their own, whatever they are); their messages are priced by it, the
    default organisation's by the shared list, which they read but cannot change."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    from costs.models import PricingRule
    from orgs.services import membership_set

    shared = PricingRule.objects.get(organisation__isnull=True, channel="sms")
    staff = get_user_model().objects.create_user("bea", password="x" * 20, is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="costs"))
    membership_set(user=staff, organisation=beta)
    client.force_login(staff)
    added = client.post(
        "/admin/costs/pricingrule/add/",
        {
            "channel": "sms",
            "provider": "",
            "country_prefix": "",
            "unit": "segment",
            "price": "0.0010",
            "currency": "USD",
            "is_active": "on",
        },
    )
    assert added.status_code == 302, added.content.decode()[-2000:]
    own = PricingRule._base_manager.get(organisation=beta)
    assert client.get(f"/admin/costs/pricingrule/{shared.pk}/change/").status_code == 200  # read
    refused = client.post(f"/admin/costs/pricingrule/{shared.pk}/change/", {"price": "0"})
    assert refused.status_code == 403
    RecipientFactory(external_id="a", phone="+14155550101")
    with tenancy.within(beta.pk):
        RecipientFactory(external_id="b", phone="+14155550202")
        theirs = notification_submit(SubmitRequest(recipient="b", type="payment_reminder", data=_REMINDER))
    ours = notification_submit(SubmitRequest(recipient="a", type="payment_reminder", data=_REMINDER))
    assert theirs.cost == own.price * theirs.segments
    assert ours.cost == shared.price * ours.segments and shared.price != own.price


def test_an_organisation_switches_a_shared_type_off_or_sends_it_its_own_way(beta):
    """Its override applies to its own submits only: the catalogue stays as it is for everyone else."""
    ntype = NotificationType.objects.get(key="payment_reminder")
    RecipientFactory(external_id="a", phone="+14155550101")
    with tenancy.within(beta.pk):
        RecipientFactory(external_id="b", phone="+14155550202")
        override = TypeOverride.objects.create(notification_type=ntype, priority=1, max_retries=6)
        urgent = notification_submit(SubmitRequest(recipient="b", type="payment_reminder", data=_REMINDER))
    usual = notification_submit(SubmitRequest(recipient="a", type="payment_reminder", data=_REMINDER))
    assert (urgent.priority, urgent.max_attempts, urgent.queue) == (1, 7, "sms_critical")
    assert (usual.priority, usual.max_attempts) == (ntype.priority, ntype.max_retries + 1)
    override.is_active = False
    override.save()
    with tenancy.within(beta.pk), pytest.raises(InvalidInput, match="inactive"):
        notification_submit(SubmitRequest(recipient="b", type="payment_reminder", data=_REMINDER))
    assert notification_submit(SubmitRequest(recipient="a", type="payment_reminder", data=_REMINDER)).status
    with pytest.raises(ValidationError, match="not sent by"):
        TypeOverride(
            organisation=beta,
            notification_type=NotificationType.objects.get(key="monthly_report"),
            default_channel="sms",
        ).full_clean()
