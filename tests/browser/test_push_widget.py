"""Browser push in a real browser: on the demo page, "Turn on notifications" asks the person, subscribes the browser
with commhub's VAPID key and registers it; a push commhub then sends is checked and decrypted by the local push
service, handed to the browser's service worker (through the DevTools protocol, as a push service would), and the
service worker shows it. Only the browser's own push-service hop is simulated: offline, Chromium cannot reach
Google's, so the page's PushManager returns the subscription the local push service made."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from notifications.delivery import queue_drain
from push.models import PushSubscription
from push.vapid import generate_pair
from tests.browser.conftest import SCREENSHOTS
from tests.factories import RecipientFactory, submit
from tests.fakes.push import FakePushService, unb64url

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

USER_KEY = "push-widget-end-user-key-" + "p" * 40
# The browser's push service, as seen by the page: subscribe() answers with the local push service's subscription.
SUBSCRIBE_VIA_LOCAL_PUSH_SERVICE = """
PushManager.prototype.getSubscription = function () { return Promise.resolve(null); };
PushManager.prototype.subscribe = function (options) {
  window.__applicationServerKey = Array.from(new Uint8Array(options.applicationServerKey));
  return Promise.resolve({toJSON: function () { return %s; }});
};
"""


def test_turn_on_notifications_registers_the_browser_and_its_service_worker_shows_the_push(
    page, live_server, catalogue, settings
):
    fake = FakePushService().start()
    private, public = generate_pair()
    fake.vapid_public_key = public
    settings.USER_JWT = {**settings.USER_JWT, "SIGNING_KEY": USER_KEY}
    settings.COMMHUB = {**settings.COMMHUB, "INBOX_DEMO": True, "REALTIME_REDIS_URL": ""}
    settings.PUSH_PROVIDER, settings.VAPID_PRIVATE_KEY = "live", private
    settings.PUSH_ENDPOINT_HOSTS = [fake.netloc]
    RecipientFactory(external_id="123", phone="")
    browser_side = fake.browser()
    page.context.grant_permissions(["notifications"], origin=live_server.url)
    page.add_init_script(SUBSCRIBE_VIA_LOCAL_PUSH_SERVICE % json.dumps(browser_side.subscription_json()))
    cdp = page.context.new_cdp_session(page)
    registrations: list[str] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(r["registrationId"] for r in event["registrations"] if not r["isDeleted"]),
    )
    cdp.send("ServiceWorker.enable")
    try:
        page.goto(f"{live_server.url}/inbox/demo/")
        page.click(".chi-bell")
        page.click(".chi-push-on")
        expect(page.locator(".chi-push")).to_have_text("Notifications are on for this browser.")
        subscription = PushSubscription.objects.get()
        assert (subscription.recipient.external_id, subscription.endpoint) == ("123", browser_side.endpoint)
        key = bytes(page.evaluate("window.__applicationServerKey"))
        assert key == unb64url(public)  # subscribed with commhub's VAPID public key

        alert = submit(recipient="123", type="security_alert", data={})
        assert alert.channel == "push", alert.decision_trace
        queue_drain(queue=alert.queue, threads=1)  # what the worker does
        sent = str(alert.pk)
        (push,) = fake.pushes
        assert push.status == 201 and push.payload["title"] == "New sign-in" and push.payload["notification"] == sent
        assert registrations, "the service worker did not register"
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": live_server.url, "registrationId": registrations[-1], "data": json.dumps(push.payload)},
        )
        shown = page.wait_for_function(
            """() => navigator.serviceWorker.getRegistrations()
                 .then(rs => Promise.all(rs.map(r => r.getNotifications())))
                 .then(all => all.flat().map(n => [n.title, n.body, n.tag]))
                 .then(shown => shown.length ? shown : null)"""
        ).json_value()
        assert shown == [[push.payload["title"], push.payload["body"], sent]]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "push_widget.png"))
    finally:
        fake.stop()
