"""ESP webhooks are served only for the ESPs commhub sends through, only with the shared secret and only when
the ESP's own check can run: a forged Postmark bounce must not suppress anyone on a Mailgun install, and an
ESP whose view lacks its key or its library is not a route that answers 500."""

import base64
import json

import pytest
from django.urls import include, path

from notifications.webhooks import esp_webhook_urlpatterns
from preferences.models import Suppression

pytestmark = pytest.mark.django_db

SECRET = "hook-user:hook-pass"


def routes(settings, *, provider: str, fallbacks: tuple[str, ...] = (), **anymail) -> set[str]:
    settings.EMAIL_PROVIDER = provider
    settings.EMAIL_FALLBACK_BACKENDS = [f"anymail.backends.{name}.EmailBackend" for name in fallbacks]
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET, **anymail}
    return {str(p.pattern).lstrip("^") for p in esp_webhook_urlpatterns()}


def test_only_the_configured_esps_with_their_signing_keys_are_served(settings):
    assert routes(settings, provider="mailgun", MAILGUN_WEBHOOK_SIGNING_KEY="k") == {
        "mailgun/tracking/",
        "mailgun/inbound(_mime)?/$",
    }
    # the fallback ESP is served too; Postmark does not sign: the shared secret is its check
    served = routes(settings, provider="mailgun", fallbacks=("postmark",), MAILGUN_WEBHOOK_SIGNING_KEY="k")
    assert {"postmark/tracking/", "postmark/inbound/", "mailgun/tracking/"} <= served
    assert not any(r.startswith(("sendgrid", "amazon_ses", "sparkpost")) for r in served)


def test_nothing_is_served_without_the_secret_or_the_esps_key(settings):
    # Mailgun signs every event: without the signing key (or an API key to fall back on) its view cannot check it
    assert routes(settings, provider="mailgun") == set()
    settings.ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": "k"}
    assert esp_webhook_urlpatterns() == []  # no shared secret
    assert routes(settings, provider="capture") == set()


urlpatterns: list = []


def test_a_forged_postmark_bounce_on_a_mailgun_install_is_a_404_and_suppresses_nobody(client, settings):
    served = routes(settings, provider="mailgun", MAILGUN_WEBHOOK_SIGNING_KEY="k")
    assert served
    urlpatterns[:] = [path("webhooks/anymail/", include((esp_webhook_urlpatterns(), "anymail")))]
    settings.ROOT_URLCONF = __name__
    bounce = {"RecordType": "Bounce", "Type": "HardBounce", "Email": "victim@example.com", "MessageID": "x"}
    auth = "Basic " + base64.b64encode(SECRET.encode()).decode()
    response = client.post(
        "/webhooks/anymail/postmark/tracking/",
        json.dumps(bounce),
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )
    assert response.status_code == 404
    assert not Suppression.objects.filter(address="victim@example.com").exists()
    for esp in ("amazon_ses", "sendgrid", "mandrill"):
        other = client.post(f"/webhooks/anymail/{esp}/tracking/", "{}", content_type="application/json")
        assert other.status_code == 404
