"""Rules and broadcasts in a real browser, as staff use them: write a rule's draft (a bad expression is a form
error), publish it, see what it made of an event on the event's page; write a broadcast to a topic, dry-run it
(the counts in the message and on its page), start it and watch it finish."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from broadcasts.models import Broadcast, Topic
from broadcasts.services import broadcasts_advance, topic_subscribe
from notifications.models import NotificationType
from preferences.services import suppression_add
from tests.factories import RecipientFactory
from triggers.models import Event, Rule, RuleVersion
from triggers.services import EventIn, events_ingest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _act(page, model_path: str, pk: int, action: str) -> None:
    page.goto(f"{page.base}/admin/{model_path}/")
    page.check(f"input[name=_selected_action][value='{pk}']")
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


def test_write_a_rule_publish_it_and_read_what_it_made_of_an_event(staff_page, catalogue):
    from django.utils import timezone

    page = staff_page
    RecipientFactory(external_id="123", phone="+14155550177", email="dana@example.com")
    page.goto(f"{page.base}/admin/triggers/rule/add/")
    page.fill("#id_key", "dunning")
    page.fill("#id_event_name", "payment.failed")
    page.click("input[name=_save]")
    rule = Rule.objects.get(key="dunning")

    page.goto(f"{page.base}/admin/triggers/ruleversion/add/")
    page.select_option("#id_rule", str(rule.pk))
    page.select_option("#id_notification_type", str(NotificationType.objects.get(key="financial_alert").pk))
    page.fill("#id_condition", "data.attempt >=")  # unfinished
    page.fill("#id_data_map", '{"amount": "data.amount", "account": "data.account"}')
    page.click("input[name=_save]")
    expect(page.locator(".errorlist")).to_contain_text("cannot parse")
    assert not RuleVersion.objects.exists()
    page.fill("#id_condition", "data.attempt >= 1")
    page.click("input[name=_save]")
    version = RuleVersion.objects.get()
    assert (version.number, version.state) == (1, "draft")

    _act(page, "triggers/ruleversion", version.pk, "publish")
    expect(page.locator(".messagelist")).to_contain_text("Dunning v1 is live")
    events_ingest(
        [
            EventIn(
                uid="evt_9",
                name="payment.failed",
                occurred_at=timezone.now(),
                recipients=["123"],
                data={"amount": "$49.00", "account": "checking", "attempt": 2},
            )
        ]
    )
    page.goto(f"{page.base}/admin/triggers/event/{Event.objects.get().pk}/change/")
    expect(page.locator("body")).to_contain_text("dunning v1")
    expect(page.locator("body")).to_contain_text("Notification made")


def test_dry_run_a_broadcast_start_it_and_watch_it_finish(staff_page, catalogue):
    page = staff_page
    people = [RecipientFactory(external_id=f"r{i}", email=f"r{i}@example.com") for i in range(3)]
    suppression_add(channel="email", address="r2@example.com", reason="bounce")
    topic = Topic.objects.create(key="reports", name="Monthly reports")
    topic_subscribe(topic=topic, recipients=people)

    page.goto(f"{page.base}/admin/broadcasts/broadcast/add/")
    page.fill("#id_name", "May report")
    page.select_option("#id_notification_type", str(NotificationType.objects.get(key="monthly_report").pk))
    page.fill("#id_data", '{"month": "May", "summary": "All good."}')
    page.select_option("#id_audience", "topic")
    page.select_option("#id_topic", str(topic.pk))
    page.click("input[name=_save]")
    broadcast = Broadcast.objects.get()

    _act(page, "broadcasts/broadcast", broadcast.pk, "dry_run")
    expect(page.locator(".messagelist")).to_contain_text(
        "3 recipients, 2 would be sent, 1 refused (suppressed_bounce 1)"
    )
    page.goto(f"{page.base}/admin/broadcasts/broadcast/{broadcast.pk}/change/")
    expect(page.locator(".field-dry_run_said")).to_contain_text('"accepted": 2')

    _act(page, "broadcasts/broadcast", broadcast.pk, "start")
    expect(page.locator(".messagelist")).to_contain_text("May report: started")
    broadcasts_advance(time_budget=30)  # what a worker's broadcasts.advance does
    page.goto(f"{page.base}/admin/broadcasts/broadcast/")
    expect(page.locator("#result_list")).to_contain_text("Done")
    expect(page.locator("#result_list progress")).to_have_attribute("value", "3")
    page.goto(f"{page.base}/admin/broadcasts/broadcast/{broadcast.pk}/change/")
    expect(page.locator("input[name=_save]")).to_have_count(0)  # a started broadcast no longer changes
    expect(page.locator("a.deletelink")).to_have_count(0)  # nor goes


def test_make_a_type_digest_in_its_form_and_see_its_window_gather_messages(staff_page, catalogue):
    from notifications.services import SubmitRequest, notifications_submit_batch
    from triggers.models import DigestWindow

    page = staff_page
    ntype = NotificationType.objects.get(key="payment_reminder")
    page.goto(f"{page.base}/admin/notifications/notificationtype/{ntype.pk}/change/")
    page.select_option("#id_digest", "sliding")
    page.click("input[name=_continue]")
    expect(page.locator(".errorlist")).to_contain_text("needs the type its digest goes as")
    page.select_option("#id_digest_type", str(NotificationType.objects.get(key="activity_digest").pk))
    page.fill("#id_digest_minutes", "45")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    ntype.refresh_from_db()
    assert (ntype.digest, ntype.digest_minutes, ntype.digest_type.key) == ("sliding", 45, "activity_digest")

    RecipientFactory(external_id="123", email="dana@example.com")
    data = {"amount": "$10", "due_date": "1 May"}
    results = notifications_submit_batch(
        [
            SubmitRequest(recipient="123", type="payment_reminder", channel="email", data={**data, "bill_name": n})
            for n in ("Rent", "Water")
        ]
    )
    assert all(r.ok and r.notification.status == "digested" for r in results)
    page.goto(f"{page.base}/admin/triggers/digestwindow/")
    expect(page.locator("#result_list")).to_contain_text("type payment_reminder")
    page.goto(f"{page.base}/admin/triggers/digestwindow/{DigestWindow.objects.get().pk}/change/")
    expect(page.locator("body")).to_contain_text("Water")
    expect(page.locator("body")).to_contain_text("Gathering")
