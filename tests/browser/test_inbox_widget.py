"""The inbox widget in a real browser: the demo page (a product page with commhub's script on it, signed in as
demo user 123) shows the bell; an in-app notification sent through the API raises the badge live, the list
shows it, clicking it marks it read and the badge drops. The last screen is kept as an artifact."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from inbox.models import InboxItem
from notifications.delivery import queue_drain
from tests.browser.conftest import SCREENSHOTS
from tests.factories import RecipientFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

USER_KEY = "inbox-widget-end-user-key-" + "w" * 40


def test_the_badge_rises_live_and_drops_when_the_item_is_read(page, live_server, catalogue, api, settings):
    settings.USER_JWT = {**settings.USER_JWT, "SIGNING_KEY": USER_KEY}
    settings.COMMHUB = {**settings.COMMHUB, "INBOX_DEMO": True, "REALTIME_REDIS_URL": ""}  # as `make run`
    RecipientFactory(external_id="123", email="dana@example.com")
    page.goto(f"{live_server.url}/inbox/demo/")
    widget = page.locator("#commhub-inbox")
    expect(widget).to_have_attribute("data-unread", "0")
    expect(page.locator(".chi-badge")).to_be_hidden()

    for amount in ("$900", "$40"):
        sent = api.post(
            "/api/v1/notifications/",
            {
                "recipient": "123",
                "type": "payment_reminder",
                "channel": "in_app",
                "data": {"bill_name": "Rent", "amount": amount, "due_date": "1 May"},
            },
            format="json",
        )
        assert sent.status_code == 202, sent.content
        queue_drain(queue="in_app_daily", threads=1)  # what the worker does
    expect(widget).to_have_attribute("data-unread", "2", timeout=5_000)  # live: nobody reloaded the page
    expect(page.locator(".chi-badge")).to_have_text("2")

    page.click(".chi-bell")
    items = page.locator(".chi-item")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("Rent of $40 is due 1 May")
    expect(items.first.locator(".chi-action")).to_have_text("Pay now")
    items.first.locator(".chi-title").click()
    expect(widget).to_have_attribute("data-unread", "1")
    expect(page.locator(".chi-badge")).to_have_text("1")
    expect(items.first).not_to_have_class("chi-item chi-unread")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "inbox_widget.png"))
    newest = InboxItem.objects.order_by("-created_at").first()
    assert newest.read_at is not None and newest.seen_at is not None  # opening the list reported them seen
    assert InboxItem.objects.filter(read_at__isnull=True).count() == 1


def test_the_demo_page_is_off_unless_switched_on(client, settings):
    settings.COMMHUB = {**settings.COMMHUB, "INBOX_DEMO": False}
    assert client.get("/inbox/demo/").status_code == 404
