"""/api/v1/me/push/: a person registers and removes their browsers and devices with their end-user token; bad
input is a field-level 400, an endpoint that is not a push service is refused (the worker would POST to it),
another person's registration is a 404."""

from __future__ import annotations

import base64
from io import StringIO

import pytest
from django.core.management import call_command

from commhub.embedded import write_embedded_env
from preferences.privacy import recipient_erase, recipient_export_data
from push.models import DeviceToken, PushSubscription
from push.services import MAX_PER_PERSON
from tests.conftest import client_for
from tests.factories import RecipientFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/me/push/subscriptions/"


def test_a_browser_registers_reregisters_and_removes_itself(push_service):
    me, browser = client_for("lee"), push_service.browser()
    first = me.post(URL, browser.subscription_json(), format="json")
    assert first.status_code == 201 and first.json()["endpoint"] == browser.endpoint
    again = me.post(URL, browser.subscription_json(), format="json", HTTP_USER_AGENT="Firefox/140")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.json()["user_agent"] == "Firefox/140"
    assert [s["id"] for s in me.get(URL).json()] == [first.json()["id"]]
    assert me.post(f"{URL}remove/", {"endpoint": browser.endpoint}, format="json").status_code == 204
    assert not PushSubscription.objects.exists()


def test_a_shared_browser_moves_to_whoever_registers_it_and_nobody_sees_anothers(push_service):
    browser = push_service.browser()
    client_for("lee").post(URL, browser.subscription_json(), format="json")
    moved = client_for("mo").post(URL, browser.subscription_json(), format="json")
    assert moved.status_code == 200 and PushSubscription.objects.get().recipient.external_id == "mo"
    assert client_for("lee").get(URL).json() == []
    mine = moved.json()["id"]
    assert client_for("lee").delete(f"{URL}{mine}/").status_code == 404
    assert client_for("lee").get(f"{URL}{mine}/").status_code == 404
    assert client_for("mo").delete(f"{URL}{mine}/").status_code == 204


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"endpoint": "http://10.0.0.5/admin"}, "endpoint"),  # not a push service: the worker would POST there
        ({"endpoint": "https://push.example.net.evil.com/x"}, "endpoint"),
        ({"endpoint": "not a url"}, "endpoint"),
        ({"keys": {"p256dh": "short", "auth": "A" * 22}}, "keys"),
        ({"keys": {"p256dh": "B" + "A" * 86, "auth": "!!"}}, "keys"),
        ({"keys": {"auth": "A" * 22}}, "keys"),
        ({"keys": "p256dh"}, "keys"),
        ({"endpoint": 5}, "endpoint"),
    ],
)
def test_a_bad_subscription_is_a_field_level_400(push_service, settings, change, field):
    settings.PUSH_ENDPOINT_HOSTS = [*settings.PUSH_ENDPOINT_HOSTS, ".push.example.net"]
    body = {**push_service.browser().subscription_json(), **change}
    answer = client_for("lee").post(URL, body, format="json")
    assert answer.status_code == 400 and field in answer.json().get("errors", answer.json()), answer.json()
    assert not PushSubscription.objects.exists()


def test_a_bad_device_is_a_field_level_400_and_a_person_keeps_only_their_newest(push_service):
    me = client_for("nia")
    bad = me.post("/api/v1/me/push/devices/", {"token": "", "platform": "palm"}, format="json")
    assert bad.status_code == 400
    assert {"token", "platform"} <= set(bad.json().get("errors", bad.json()))
    for i in range(MAX_PER_PERSON + 2):
        assert me.post("/api/v1/me/push/devices/", {"token": f"t-{i}"}).status_code == 201
    kept = DeviceToken.objects.values_list("token", flat=True)
    assert len(kept) == MAX_PER_PERSON and "t-0" not in kept and f"t-{MAX_PER_PERSON + 1}" in kept


def test_the_config_gives_the_key_browsers_subscribe_with_and_service_tokens_do_not_get_in(push_service, api):
    config = client_for("lee").get("/api/v1/me/push/config/").json()
    assert config == {"vapid_public_key": push_service.vapid_public_key, "web_push": True, "fcm": True}
    assert api.get("/api/v1/me/push/config/").status_code in (401, 403)
    assert api.post(URL, push_service.browser().subscription_json(), format="json").status_code in (401, 403)


def test_a_privacy_export_lists_and_an_erasure_deletes_the_persons_browsers_and_devices(push_service):
    person = RecipientFactory(external_id="ola")
    browser = push_service.browser()
    client_for("ola").post(URL, browser.subscription_json(), format="json")
    client_for("ola").post("/api/v1/me/push/devices/", {"token": "fcm-ola", "platform": "ios"})
    exported = recipient_export_data(person)["push"]
    assert [b["endpoint"] for b in exported["browsers"]] == [browser.endpoint]
    assert [(d["platform"], d["token"]) for d in exported["devices"]] == [("ios", "fcm-ola")]
    summary = recipient_erase(recipient=person, actor="tests")
    assert (summary["push_subscriptions_deleted"], summary["device_tokens_deleted"]) == (1, 1)
    assert not PushSubscription.objects.exists() and not DeviceToken.objects.exists()


def test_vapid_keys_prints_a_pair_the_server_serves_and_make_run_writes_its_own(settings, tmp_path, user_jwt):
    out = StringIO()
    call_command("vapid_keys", stdout=out)
    line = out.getvalue().splitlines()[0]
    private = line.removeprefix("VAPID_PRIVATE_KEY=")
    public = out.getvalue().split("public key (served by /api/v1/me/push/config/): ")[1].strip()
    settings.VAPID_PRIVATE_KEY = private
    assert client_for("lee").get("/api/v1/me/push/config/").json()["vapid_public_key"] == public

    written = write_embedded_env(tmp_path).read_text()  # a new data directory
    (embedded,) = [v for v in written.splitlines() if v.startswith("VAPID_PRIVATE_KEY=")]
    assert len(base64.urlsafe_b64decode(embedded.split("=", 1)[1] + "==")) == 32
    assert write_embedded_env(tmp_path).read_text() == written  # made once, kept
