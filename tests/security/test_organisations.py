"""Organisations cannot see each other: a matrix over every operation of the served OpenAPI schema and every page
of the admin registry, both directions (a tenant against the default organisation, the default organisation's
staff against a tenant).

Each organisation has a service client, a staff user holding every permission (not a superuser) and an end user.
Against the other organisation's objects, every call must answer exactly as it answers for an id that does not
exist (404 vs 403 equal: nothing inferred), show none of the victim's data, and change nothing of it. The
operations and admin pages come from the URL conf and the admin registry: a new endpoint whose path names an
object this file does not know fails here until it is added (and scoped).
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.forms.models import model_to_dict
from django.test import Client, RequestFactory
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from audit.models import AuditEntry
from broadcasts.models import Broadcast, Topic, TopicSubscription
from broadcasts.services import topic_subscribe
from calls.models import Call
from calls.services import call_schedule
from commhub import tenancy
from commhub.enduser import mint_user_token
from costs.models import Budget
from hooks.models import EventDelivery, EventSubscription, WebhookEndpoint
from hooks.signing import new_secret
from inbox.models import InboxItem
from notifications.management.commands.create_api_client import api_client_group
from notifications.models import Notification, NotificationType, RecurringSend, TypeOverride
from notifications.recurring import recurring_save
from notifications.services import SubmitRequest, notification_submit
from orgs.services import membership_set, organisation_create
from preferences.models import ConsentRecord, Preference, Recipient, Suppression
from preferences.services import preference_set, suppression_add
from push.models import DeviceToken, PushSubscription
from templates_app.models import Template, TemplateVersion
from templates_app.services import template_create, version_create, version_publish
from tests.backoffice import populate
from tests.factories import RecipientFactory, grant_marketing
from triggers.models import DeadEvent, DigestItem, DigestWindow, Event, Rule, RuleRun, RuleVersion
from triggers.services import EventIn, events_ingest, rule_version_draft, rule_version_publish

pytestmark = pytest.mark.django_db

KEY_DEFAULT = "organisations-default-end-user-key-" + "d" * 32
KEY_BETA = "organisations-beta-end-user-key-" + "b" * 32

# path parameter -> the kind of object it names, by the path's resource
PARAMETERS = {
    "/api/v1/notifications/{id}/": "notification",
    "/api/v1/recipients/{external_id}/": "recipient",
    "/api/v1/preferences/{id}/": "preference",
    "/api/v1/consents/{id}/": "consent",
    "/api/v1/suppressions/{id}/": "suppression",
    "/api/v1/templates/{id}/": "template",
    "/api/v1/template-versions/{id}/": "version",
    "/api/v1/audit/{id}/": "audit",
    "/api/v1/me/preferences/{id}/": "preference",
    "/api/v1/me/consents/{id}/": "consent",
    "/api/v1/me/notifications/{id}/": "notification",
    "/api/v1/me/inbox/{id}/": "inbox",
    "/api/v1/me/push/subscriptions/{id}/": "push_subscription",
    "/api/v1/me/push/devices/{id}/": "push_device",
    "/api/communication/status/{task_id}": "notification",
    "/api/communication/cancel/{task_id}": "notification",
    "/api/v1/webhook-endpoints/{id}/": "webhook_endpoint",
    "/api/v1/event-subscriptions/{id}/": "event_subscription",
    "/api/v1/calls/{id}/": "call",
    "/api/v1/events/{uid}/": "event",
    "/api/v1/topics/{key}/": "topic",
    "/api/v1/me/topics/{key}/": "topic",
    "/api/v1/broadcasts/{id}/": "broadcast",
    "/api/v1/types/{key}/": "shared",  # the catalogue every organisation reads
}
MISSING = {"notification": str(uuid.UUID(int=7)), "recipient": "nobody-by-this-id"}
# what an attacker puts in a request body: the victim's references where a field takes one
BODY = {
    "reason": "testing",
    "is_active": False,
    "enabled": False,
    "text": "changed by another organisation",
    "email": "attacker@evil.example",
    "channel": "email",
    "address": "attacker@evil.example",
    "purpose": "marketing",
    "action": "withdrawn",
    "type": "financial_alert",
    "trigger_type": "financial_alert",
    "data": {"amount": "$1", "account": "x"},
}


def _operations() -> list[tuple[str, str, dict]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (method, path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def _resource(path: str) -> str | None:
    """The PARAMETERS entry a path with a parameter belongs to (its prefix up to the parameter)."""
    for prefix, kind in PARAMETERS.items():
        if path.startswith(prefix.split("}")[0] + "}"):
            return kind
    return None


def _everything(model) -> list[dict]:
    with tenancy.everything():
        return [model_to_dict(row) | {"pk": row.pk} for row in model._base_manager.order_by("pk")]


def _state() -> dict[str, list[dict]]:
    """Every tenant row, as the database holds it (compared before and after the attacks)."""
    models = (
        Recipient,
        Notification,
        Preference,
        ConsentRecord,
        Suppression,
        Budget,
        RecurringSend,
        Template,
        TypeOverride,
        InboxItem,
        PushSubscription,
        DeviceToken,
        WebhookEndpoint,
        EventSubscription,
        EventDelivery,
        Call,
        Event,
        Rule,
        RuleVersion,
        RuleRun,
        DeadEvent,
        DigestWindow,
        DigestItem,
        Topic,
        TopicSubscription,
        Broadcast,
    )
    state = {model.__name__: _everything(model) for model in models}
    state["TemplateVersion"] = _everything(TemplateVersion)
    return state


def _staff(username: str, organisation) -> tuple[Any, APIClient, Client]:
    user = get_user_model().objects.create_user(username, f"{username}@example.com", "x" * 20, is_staff=True)
    user.user_permissions.set(Permission.objects.all())  # every permission there is, in its organisation
    if organisation is not None:
        membership_set(user=user, organisation=organisation)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    browser = Client()
    browser.force_login(user)
    return user, api, browser


def _client(username: str, organisation) -> APIClient:
    user = get_user_model().objects.create_user(username, password="x" * 20)
    user.groups.add(api_client_group())
    if organisation is not None:
        membership_set(user=user, organisation=organisation)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return api


def _end_user(external_id: str, organisation: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_user_token(external_id, organisation=organisation)}")
    return api


def _beta_objects(beta) -> dict[str, Any]:
    """Organisation beta's own: a recipient with a preference, consent and a sent notification, a suppression, a
    budget, a recurring send, its own template overriding the shared one, and the audit entries they made."""
    with tenancy.within(beta.pk):
        subscription = EventSubscription.objects.create(
            organisation_id=beta.pk, url="https://events.beta-backend.example/in", secret=new_secret()
        )
        bea = RecipientFactory(external_id="beta-1", email="bea@beta.example", phone="+14155559999")
        grant_marketing(bea, "email")
        preference, _ = preference_set(recipient=bea, enabled=False, channel="sms", category="education")
        suppression, _ = suppression_add(channel="email", address="blocked@beta.example", reason="bounce")
        sent = notification_submit(SubmitRequest(recipient="beta-1", type="financial_alert", data=BODY["data"]))
        budget = Budget.objects.create(name="Beta budget", channel="sms", limit=Decimal("5"), currency="USD")
        recurring = recurring_save(
            RecurringSend(
                name="Beta weekly",
                notification_type=NotificationType.objects.get(key="weekly_checkin"),
                audience=RecurringSend.Audience.ALL,
                minute="0",
                hour="9",
                timezone="UTC",
            )
        )
        ntype = NotificationType.objects.get(key="financial_alert")
        template = template_create(notification_type=ntype, channel="sms", locale="en")
        version = version_create(
            template=template,
            text="Beta own text: {{ amount }} on {{ account }}",
            variables=[
                {"name": "amount", "type": "string", "required": True, "sample": "$1"},
                {"name": "account", "type": "string", "required": True, "sample": "x"},
            ],
        )
        version_publish(version=version)
        TypeOverride.objects.create(notification_type=ntype, max_retries=7)
        item = InboxItem.objects.create(recipient=bea, notification_id=sent.pk, title="Beta inbox item")
        browser = PushSubscription.objects.create(
            recipient=bea,
            endpoint="https://fcm.googleapis.com/fcm/send/beta-browser",
            p256dh="B" + "A" * 86,
            auth="A" * 22,
        )
        device = DeviceToken.objects.create(recipient=bea, token="beta-device-token", platform="ios")
        endpoint = WebhookEndpoint.objects.create(
            recipient=bea, url="https://hooks.beta-systems.example/in", secret=new_secret()
        )
        beta_caller = get_user_model().objects.create_user("beta-caller", password="x" * 20, is_staff=True)
        membership_set(user=beta_caller, organisation=beta)
        call = call_schedule(
            caller=beta_caller, callee=bea, reason="Beta callback", scheduled_at=timezone.now() + timedelta(hours=3)
        )
        rule = Rule.objects.create(key="beta-dunning", event_name="payment.failed", description="Beta dunning rule")
        rule_version_publish(
            version=rule_version_draft(rule=rule, notification_type=NotificationType.objects.get(key="financial_alert"))
        )
        [event] = events_ingest(
            [
                EventIn(
                    uid="beta-evt-1",
                    name="payment.failed",
                    occurred_at=timezone.now(),
                    recipients=["beta-1"],
                    data=BODY["data"],
                )
            ]
        )
        DeadEvent.objects.create(source="kafka", where="beta.events[0]@7", payload="{", reason="Beta dead event")
        weekly = Rule.objects.create(key="beta-weekly", event_name="session.requested")
        rule_version_publish(
            version=rule_version_draft(
                rule=weekly, notification_type=NotificationType.objects.get(key="activity_digest"), digest="sliding"
            )
        )
        events_ingest(
            [EventIn(uid="beta-req-1", name="session.requested", occurred_at=timezone.now(), recipients=["beta-1"])]
        )
        beta_topic = Topic.objects.create(key="beta-news", name="Beta topic news")
        topic_subscribe(topic=beta_topic, recipients=[bea])
        beta_broadcast = Broadcast.objects.create(
            name="Beta broadcast",
            notification_type=NotificationType.objects.get(key="monthly_report"),
            audience=Broadcast.Audience.TOPIC,
            topic=beta_topic,
            data={"month": "May", "summary": "ok"},
        )
    return {
        "recipient": "beta-1",
        "notification": str(sent.pk),
        "preference": preference.pk,
        "consent": ConsentRecord._base_manager.filter(recipient=bea).first().pk,
        "suppression": suppression.pk,
        "template": template.pk,
        "version": version.pk,
        "audit": AuditEntry._base_manager.filter(organisation=beta).first().pk,
        "inbox": item.pk,
        "push_subscription": browser.pk,
        "push_device": device.pk,
        "webhook_endpoint": endpoint.pk,
        "event_subscription": subscription.pk,
        "call": call.pk,
        "event": event.event.uid,
        "topic": beta_topic.key,
        "broadcast": beta_broadcast.pk,
        "organisation": beta.pk,
        "budget": budget,
        "recurring": recurring,
        "markers": [
            "bea@beta.example",
            "+14155559999",
            "Beta inbox item",
            "beta-browser",
            "beta-device-token",
            "beta-systems",
            "beta-backend.example",
            "Beta callback",
            str(sent.pk),
            "Beta budget",
            "Beta weekly",
            "blocked@beta.example",
            "Beta own text",
            "Beta dunning rule",
            "beta-evt-1",
            "Beta dead event",
            "Beta topic news",
            "Beta broadcast",
        ],
    }


def _default_objects(objects: dict) -> dict[str, Any]:
    """The default organisation's, from tests.backoffice.populate (its template is the shared catalogue's)."""
    notification = objects[Notification]
    with tenancy.everything():
        others = [str(pk) for pk in Notification._base_manager.filter(organisation_id=1).values_list("pk", flat=True)]
    return {
        "recipient": "123",
        "notification": str(notification.pk),
        "preference": objects[Preference].pk,
        "consent": objects[ConsentRecord].pk,
        "suppression": objects[Suppression].pk,
        "template": None,  # shared: read by every organisation, changed by none but the default one
        "version": None,
        "audit": objects[AuditEntry].pk,
        "inbox": objects[InboxItem].pk,
        "push_subscription": objects[PushSubscription].pk,
        "push_device": objects[DeviceToken].pk,
        "webhook_endpoint": objects[WebhookEndpoint].pk,
        "event_subscription": objects[EventSubscription].pk,
        "call": objects[Call].pk,
        "event": objects[Event].uid,
        "topic": objects[Topic].key,
        "broadcast": objects[Broadcast].pk,
        "organisation": 1,
        "markers": [
            "dana@example.com",
            "+14155550123",
            "gone@example.com",
            "dana-laptop",
            "dana-phone-fcm-token",
            "dana-systems",
            "default-backend.example",
            "Dana asked about her budget",
            "Texts per day",
            "Monday check-in",
            "Tell them at once",
            "evt_2041",
            "commhub.events[0]@41",
            "Jobs and skills, monthly",
            "Career news for May",
            *others,
        ],
    }


@pytest.fixture
def world(catalogue, via_fakes, settings):
    settings.USER_JWT = {**settings.USER_JWT, "SIGNING_KEY": KEY_DEFAULT, "ORGANISATION_KEYS": {"beta": KEY_BETA}}
    rates = ("THROTTLE_CLIENT", "THROTTLE_END_USER", "THROTTLE_SENDS", "THROTTLE_ANON", "THROTTLE_ORGANISATION_SENDS")
    settings.COMMHUB = {**settings.COMMHUB, **dict.fromkeys(rates, "")}
    default_objects = _default_objects(populate())
    beta, _ = organisation_create(slug="beta", name="Beta")
    beta_objects = _beta_objects(beta)
    actors = {
        "default": {
            "client": _client("default-backend", None),
            "staff": _staff("default-staff", None),
            "end_user": _end_user("123", ""),
        },
        "beta": {
            "client": _client("beta-backend", beta),
            "staff": _staff("beta-staff", beta),
            "end_user": _end_user("beta-1", "beta"),
        },
    }
    return {"default": default_objects, "beta": beta_objects}, actors


def _url(path: str, operation: dict, value: Any) -> str:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "path":
            path = path.replace("{" + parameter["name"] + "}", str(value))
    return path


def _body(operation: dict, victim: dict) -> dict:
    """A body the operation accepts, referring to the victim's objects wherever a field takes one."""
    refs = {
        "recipient": victim["recipient"],
        "user_id": victim["recipient"],
        "template": victim["template"] or 1,
        "version": 1,
        "notifications": [{"recipient": victim["recipient"], "type": "financial_alert", "data": BODY["data"]}],
        "communications": [{"user_id": victim["recipient"], "trigger_type": "financial_alert", "data": BODY["data"]}],
    }
    return {**BODY, **refs}


def _call(api: APIClient, method: str, url: str, body: dict) -> Any:
    if method in ("get", "delete"):
        return getattr(api, method)(url)
    return getattr(api, method)(url, json.dumps(body), content_type="application/json")


def _leaks(response: Any, markers: list[str]) -> list[str]:
    text = response.content.decode("utf-8", "replace")
    return [m for m in markers if m in text]


@pytest.mark.parametrize("attacker,victim", [("beta", "default"), ("default", "beta")])
def test_no_operation_lets_one_organisation_see_or_touch_another(world, attacker, victim):
    objects, actors = world
    target, markers = objects[victim], objects[victim]["markers"]
    before = _state()
    problems: list[str] = []
    checked = 0
    # upserts last: PUT /recipients/{id}/ makes the attacker's own recipient of the victim's id, which later
    # calls would then find (their own, rightly)
    for method, path, operation in sorted(_operations(), key=lambda op: op[0] == "put"):
        if path.startswith("/api/token") or path.endswith("/health"):
            continue  # no organisation's data: credentials and liveness
        who = ["end_user"] if path.startswith("/api/v1/me/") else ["client", "staff"]
        kind = _resource(path) if "{" in path else "list"
        if kind is None:
            problems.append(f"{method.upper()} {path}: names an object this matrix does not know; add it")
            continue
        if kind == "shared" or (kind in ("template", "version") and target[kind] is None):
            continue  # the shared catalogue: tests below check that only the default organisation changes it
        for role in who:
            api = actors[attacker][role]
            api = api[1] if isinstance(api, tuple) else api
            body = _body(operation, target)
            if kind == "list":
                response = _call(api, method, path, body)
                seen = _leaks(response, markers)
                query = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
                if method == "get" and "recipient" in query:
                    seen += _leaks(api.get(f"{path}?recipient={target['recipient']}"), markers)
                if seen or response.status_code >= 500:
                    text = response.content.decode()[:3000]
                    problems.append(f"{role} {method.upper()} {path}: {response.status_code}, shows {seen} in {text}")
                checked += 1
                continue
            victim_answer = _call(api, method, _url(path, operation, target[kind]), body)
            missing_answer = _call(api, method, _url(path, operation, MISSING.get(kind, 987654321)), body)
            same = victim_answer.status_code == missing_answer.status_code
            upsert = method == "put" and kind == "recipient"  # creates the attacker's own recipient of that id
            if (not same and not upsert) or (victim_answer.status_code < 300 and not upsert):
                problems.append(
                    f"{role} {method.upper()} {path}: victim's {victim_answer.status_code}, "
                    f"missing {missing_answer.status_code}"
                )
            # the id the attacker sent may come back in the refusal ("No notification <id>"): not a leak
            if seen := _leaks(victim_answer, [m for m in markers if m != str(target[kind])]):
                problems.append(f"{role} {method.upper()} {path}: shows {seen}")
            checked += 1
    after = _state()
    # the attacker's calls may change what is theirs (a /me/ read-all reads the attacker's own inbox); nothing else
    own = objects[attacker]["organisation"]
    changed = [
        f"{name} {row['pk']}"
        for name, rows in before.items()
        for row in rows
        if row not in after[name] and row.get("organisation") != own
    ]
    assert not problems, "\n".join(problems)
    assert not changed, f"the victim's rows changed: {changed}"
    assert checked > 60, checked


def _admin_url(model, name: str, *args: Any) -> str | None:
    try:
        return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{name}", args=args)
    except NoReverseMatch:
        return None


@pytest.mark.parametrize("attacker,victim", [("beta", "default"), ("default", "beta")])
def test_no_admin_page_shows_another_organisation(world, attacker, victim):
    objects, actors = world
    user, _, browser = actors[attacker]["staff"]
    victim_objects = _victim_rows(objects, victim)
    victim_objects[get_user_model()] = actors[victim]["staff"][0]  # their staff member's user page and password
    markers = objects[victim]["markers"]
    before = _state()
    problems: list[str] = []
    for page in (reverse("admin:index"), reverse("analytics-dashboard")):  # the pages that are not a ModelAdmin's
        if seen := _leaks(browser.get(page), markers):
            problems.append(f"{page}: shows {seen}")
    for model, model_admin in admin.site._registry.items():
        changelist = _admin_url(model, "changelist")
        response = browser.get(changelist)
        if seen := _leaks(response, markers):
            text = response.content.decode()
            at = text.find(seen[0])
            problems.append(f"{changelist}: shows {seen} in {text[max(0, at - 300) : at + 100]}")
        if model_admin.get_search_fields(None):
            for marker in markers[:2]:  # the search box shows what was searched for: not a leak
                found = browser.get(f"{changelist}?{urlencode({'q': marker})}")
                if seen := _leaks(found, [m for m in markers if m != marker]):
                    problems.append(f"{changelist}?q={marker}: shows {seen}")
                if b'id="result_list"' in found.content:
                    problems.append(f"{changelist}?q={marker}: finds rows")
        row = victim_objects.get(model)
        if row is None:
            continue
        for page in ("change", "history", "delete"):
            theirs, nobody = _admin_url(model, page, row.pk), _admin_url(model, page, _absent_pk(model))
            if theirs is None:
                continue
            a, b = browser.get(theirs), browser.get(nobody)
            if (a.status_code, a.get("Location")) != (b.status_code, b.get("Location")) or _leaks(a, markers):
                problems.append(f"{theirs}: {a.status_code} vs {b.status_code} for an id that does not exist")
            browser.get(reverse("admin:index"))  # shows (and so clears) the "doesn't exist" message naming the id
        # every other page of the ModelAdmin that names an object (retry, cancel, publish, test-send, password...)
        for pattern in model_admin.get_urls():
            route = str(pattern.pattern)
            if "<" not in route or route.startswith("<path:object_id>/") or pattern.name is None:
                continue
            theirs, nobody = reverse(f"admin:{pattern.name}", args=[row.pk]), None
            try:
                nobody = reverse(f"admin:{pattern.name}", args=[_absent_pk(model)])
            except NoReverseMatch:
                continue
            for method in ("get", "post"):
                # a redirect back to the object's own page names the id asked for: compare without it, and
                # compare what the next page says (the messages) too
                browser.get(reverse("admin:index"))  # (shows, and so clears, what earlier requests left)
                a = getattr(browser, method)(theirs)
                said = [_said(browser, a, row.pk)]
                b = getattr(browser, method)(nobody)
                said.append(_said(browser, b, _absent_pk(model)))
                if a.status_code != b.status_code or said[0] != said[1] or _leaks(a, markers):
                    problems.append(
                        f"{method.upper()} {theirs}: {a.status_code} {said[0]} vs {b.status_code} {said[1]}"
                    )
        # autocomplete (a relation field's search box) with the victim's names
        request = RequestFactory().get(changelist)
        request.user = user
        for field in model_admin.get_autocomplete_fields(request):
            query = {"app_label": model._meta.app_label, "model_name": model._meta.model_name, "field_name": field}
            for marker in markers[:2]:
                found = browser.get(f"/admin/autocomplete/?{urlencode({**query, 'term': marker})}")
                if found.status_code == 200 and found.json()["results"]:
                    problems.append(f"autocomplete {field} of {model.__name__} finds {marker}")
        # every action of the changelist (retry, cancel, publish, delete...) on the victim's row
        for action in model_admin.get_actions(request):
            browser.post(changelist, {"action": action, "_selected_action": [str(row.pk)], "post": "yes"})
            browser.get(reverse("admin:index"))
        # and the change form posted as if it were the attacker's own
        browser.post(_admin_url(model, "change", row.pk), {"name": "hijacked", "reason": "hijacked"})
    assert not problems, "\n".join(problems)
    after = _state()
    assert not [f"{name} {row['pk']}" for name, rows in before.items() for row in rows if row not in after[name]]


def _said(browser: Client, response: Any, pk: Any) -> str:
    """Where a response sends the browser and the messages the next page shows, the id asked for blanked out."""
    where = response.get("Location", "")
    following = browser.get(where) if response.status_code == 302 else browser.get(reverse("admin:index"))
    text = following.content.decode()
    messages = text[text.find('<ul class="messagelist">') :].split("</ul>")[0] if "messagelist" in text else ""
    return f"{where} {messages}".replace(str(pk), "ID")


def _absent_pk(model) -> Any:
    return uuid.UUID(int=9) if model._meta.pk.get_internal_type() == "UUIDField" else 987654321


def _victim_rows(objects: dict, victim: str) -> dict:
    """One row of each tenant model that belongs to the victim."""
    organisation = 1 if victim == "default" else objects["beta"]["budget"].organisation_id
    with tenancy.within(organisation):
        rows = {
            Recipient: Recipient.objects.first(),
            Notification: Notification.objects.first(),
            Preference: Preference.objects.first(),
            ConsentRecord: ConsentRecord.objects.first(),
            Suppression: Suppression.objects.first(),
            Budget: Budget.objects.first(),
            RecurringSend: RecurringSend.objects.first(),
            AuditEntry: AuditEntry.objects.first(),
            TypeOverride: TypeOverride.objects.first(),
            EventSubscription: EventSubscription.objects.first(),
            EventDelivery: EventDelivery.objects.first(),
            Call: Call.objects.first(),
            Rule: Rule.objects.first(),
            RuleVersion: RuleVersion.objects.first(),
            Event: Event.objects.first(),
            DeadEvent: DeadEvent.objects.first(),
            DigestWindow: DigestWindow.objects.first(),
            Topic: Topic.objects.first(),
            Broadcast: Broadcast.objects.first(),
        }
        own = Template.objects.filter(organisation_id=organisation).first()
        if own is not None:
            rows[Template] = own
            rows[TemplateVersion] = TemplateVersion.objects.filter(template=own).first()
    assert all(rows.values()), rows
    return rows


def test_the_shared_catalogue_is_read_by_every_organisation_and_changed_by_the_default_one(world):
    _, actors = world
    shared = Template.objects.filter(organisation__isnull=True, channel="sms").first()
    beta_staff = actors["beta"]["staff"][1]
    assert beta_staff.get(f"/api/v1/templates/{shared.pk}/").status_code == 200
    refused = beta_staff.post(
        "/api/v1/template-versions/", {"template": shared.pk, "text": "hijacked {{ amount }}"}, format="json"
    )
    assert refused.status_code == 403 and refused.json()["code"] == "shared_template"
    assert beta_staff.patch(f"/api/v1/templates/{shared.pk}/", {"is_active": False}, format="json").status_code == 403
    assert beta_staff.get("/api/v1/types/financial_alert/").status_code == 200
    # the admin: the tenant's staff read the catalogue, change none of it
    browser = actors["beta"]["staff"][2]
    ntype = NotificationType.objects.get(key="financial_alert")
    page = browser.get(_admin_url(NotificationType, "change", ntype.pk))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert browser.post(_admin_url(NotificationType, "change", ntype.pk), {"name": "hijacked"}).status_code == 403
    ntype.refresh_from_db()
    assert ntype.name != "hijacked"
    # the default organisation's staff still edit it
    default_staff = actors["default"]["staff"][1]
    accepted = default_staff.post(
        "/api/v1/template-versions/",
        {"template": shared.pk, "text": "Shared draft", "variables": []},
        format="json",
    )
    assert accepted.status_code == 201, accepted.content


def test_each_organisation_sends_with_its_own_template_recipients_and_suppressions(world):
    _, actors = world
    # the same external id in two organisations is two people
    beta_client, default_client = actors["beta"]["client"], actors["default"]["client"]
    assert beta_client.put(
        "/api/v1/recipients/123/", {"email": "other-123@beta.example"}, format="json"
    ).status_code in (
        200,
        201,
    )
    with tenancy.everything():
        assert sorted(Recipient._base_manager.filter(external_id="123").values_list("email", flat=True)) == [
            "dana@example.com",
            "other-123@beta.example",
        ]
    # beta's message renders with beta's own template; the default organisation's with the shared one
    sent = beta_client.post(
        "/api/v1/notifications/", {"recipient": "beta-1", "type": "financial_alert", "data": BODY["data"]}, "json"
    )
    assert sent.status_code == 202, sent.content
    theirs = default_client.post(
        "/api/v1/notifications/", {"recipient": "123", "type": "financial_alert", "data": BODY["data"]}, "json"
    )
    assert theirs.status_code == 202, theirs.content
    with tenancy.everything():
        beta_row = Notification.objects.get(pk=sent.json()["id"])
        default_row = Notification.objects.get(pk=theirs.json()["id"])
    assert beta_row.organisation.slug == "beta" and beta_row.template.organisation_id == beta_row.organisation_id
    assert default_row.organisation_id == 1 and default_row.template.organisation_id is None
    # a suppression in one organisation does not silence the same address in another
    beta_client.post("/api/v1/suppressions/", {"channel": "email", "address": "dana@example.com"}, format="json")
    still = default_client.post(
        "/api/v1/notifications/",
        {"recipient": "123", "type": "monthly_report", "data": {"month": "May", "summary": "ok"}},
        "json",
    )
    assert still.json()["status"] != "suppressed", still.content


def test_an_end_user_token_speaks_for_its_own_organisation_only(world):
    # beta's key cannot sign a default-organisation token, nor the default key a beta one
    forged = mint_user_token("123", organisation="")  # the default key, claiming nothing: the default org's "123"
    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert me.get("/api/v1/me/").json()["external_id"] == "123"
    import jwt

    claims = jwt.decode(forged, options={"verify_signature": False}) | {"org": "beta"}
    wrong_key = jwt.encode(claims, KEY_DEFAULT, algorithm="HS256")
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {wrong_key}")
    assert me.get("/api/v1/me/").status_code == 401
    # beta's "123" is nobody yet: an empty profile, none of the default organisation's "123"
    beta_123 = mint_user_token("123", organisation="beta")
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {beta_123}")
    profile = me.get("/api/v1/me/")
    assert profile.status_code == 200 and profile.json()["timezone"] == "", profile.content
    assert me.get("/api/v1/me/consents/").json() == [] and me.get("/api/v1/me/notifications/").json()["count"] == 0
