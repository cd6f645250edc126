"""One-click unsubscribe (RFC 8058): the headers on marketing mail as the ESP receives them (real anymail Mailgun
backend to the local fake), a real POST with the one-click body, a GET that changes nothing, forged tokens."""

import re
from urllib.parse import unquote, urlsplit

import pytest

from notifications.constants import Status
from notifications.delivery import queue_drain
from notifications.models import Notification
from preferences.models import ConsentRecord
from preferences.unsubscribe import unsubscribe_token
from tests.factories import RecipientFactory, grant_marketing, submit
from tests.fakes.providers import MAILGUN

pytestmark = pytest.mark.django_db

LESSON = {"title": "Budgeting 101", "summary": "Start with the 50/30/20 rule."}


@pytest.fixture
def reader(catalogue):
    dana = RecipientFactory(external_id="123", email="dana@example.com")
    grant_marketing(dana, "email")
    return dana


def send_lesson(fake):
    n = submit(type="educational_content", data=LESSON)
    assert n.status == Status.QUEUED, n.decision_trace
    queue_drain(queue="email_education")
    return n, fake.sent(MAILGUN)[-1]


def one_click_path(recorded) -> str:
    header = recorded.fields["h:List-Unsubscribe"]
    https = re.search(r"<(http[^>]+)>", header).group(1)
    return urlsplit(https).path


def test_marketing_mail_carries_one_click_headers_and_a_visible_link(reader, via_fakes, settings):
    n, recorded = send_lesson(via_fakes)
    header = recorded.fields["h:List-Unsubscribe"]
    assert recorded.fields["h:List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = re.findall(r"<([^>]+)>", header)
    assert https.startswith(f"{settings.PUBLIC_BASE_URL}/unsubscribe/")
    assert mailto.startswith("mailto:unsubscribe@") and "subject=unsubscribe" in mailto
    token = urlsplit(https).path.split("/")[2]
    assert unquote(mailto).endswith(token)
    assert https in recorded.fields["text"] and https in recorded.fields["html"]  # visible in both parts
    stored = Notification.objects.get(pk=n.pk)
    assert https in stored.rendered_body


def test_transactional_mail_has_no_unsubscribe_header(reader, via_fakes):
    submit(type="monthly_report", data={"month": "May"})
    queue_drain(queue="email_reports")
    [recorded] = via_fakes.sent(MAILGUN)
    assert not any(k.lower().startswith("h:list-unsubscribe") for k in recorded.fields)
    assert "/unsubscribe/" not in recorded.fields["text"]


def test_a_real_one_click_post_withdraws_at_once(client, reader, via_fakes):
    _, recorded = send_lesson(via_fakes)
    path = one_click_path(recorded)
    response = client.post(
        path,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
        HTTP_USER_AGENT="Gmail-One-Click/1.0",
    )
    assert response.status_code == 200 and b"You are unsubscribed" in response.content
    record = ConsentRecord.objects.filter(recipient=reader).latest("id")
    assert (record.action, record.source, record.purpose, record.channel, record.category) == (
        "withdrawn",
        "unsubscribe_link",
        "marketing",
        "email",
        "education",
    )
    assert record.user_agent == "Gmail-One-Click/1.0" and record.reference == "one-click POST (RFC 8058)"
    # the next lesson is refused, with the reason; other marketing categories are untouched
    after = submit(type="educational_content", data=LESSON)
    assert after.status == Status.SUPPRESSED
    assert "consent for marketing email (education) withdrawn" in after.last_error
    assert "via unsubscribe link" in after.last_error
    other = submit(type="career_insights", data={"insight": "Data skills pay."})
    assert other.status == Status.QUEUED
    # a second one-click POST (mail clients retry) records nothing new
    client.post(path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert ConsentRecord.objects.filter(source="unsubscribe_link").count() == 1


def test_get_shows_a_confirmation_and_changes_nothing(client, reader, via_fakes):
    _, recorded = send_lesson(via_fakes)
    path = one_click_path(recorded)
    response = client.get(path)
    assert response.status_code == 200 and b"Unsubscribe from education emails?" in response.content
    assert response["Referrer-Policy"] == "no-referrer"
    assert not ConsentRecord.objects.filter(source="unsubscribe_link").exists()
    # the page's button confirms
    confirmed = client.post(path, {"confirm": "yes"})
    assert confirmed.status_code == 200 and ConsentRecord.objects.filter(source="unsubscribe_link").count() == 1


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature altered
        lambda t: "x" + t,  # payload altered
        lambda t: "not-a-token",
    ],
)
def test_a_forged_or_tampered_token_is_a_4xx_and_changes_nothing(client, reader, mangle):
    token = mangle(unsubscribe_token(recipient_id=reader.pk, category="education"))
    response = client.post(
        f"/unsubscribe/{token}/", data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400 and b"not valid" in response.content
    assert client.get(f"/unsubscribe/{token}/").status_code == 400
    assert not ConsentRecord.objects.filter(source="unsubscribe_link").exists()


def test_a_token_signed_for_someone_else_cannot_be_rewritten_to_me(client, reader):
    other = RecipientFactory(external_id="456")
    token = unsubscribe_token(recipient_id=other.pk, category="education")
    client.post(
        f"/unsubscribe/{token}/", data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert not ConsentRecord.objects.filter(recipient=reader, source="unsubscribe_link").exists()
    assert ConsentRecord.objects.filter(recipient=other, source="unsubscribe_link").count() == 1


def test_a_post_without_the_one_click_body_is_refused(client, reader):
    token = unsubscribe_token(recipient_id=reader.pk, category="education")
    assert client.post(f"/unsubscribe/{token}/", {"something": "else"}).status_code == 400
    assert not ConsentRecord.objects.filter(source="unsubscribe_link").exists()


def test_the_mailto_half_withdraws_through_anymails_inbound_signal(reader, via_fakes):
    from anymail.inbound import AnymailInboundMessage
    from anymail.signals import AnymailInboundEvent, inbound

    _, recorded = send_lesson(via_fakes)
    mailto = re.findall(r"<([^>]+)>", recorded.fields["h:List-Unsubscribe"])[1]
    address, _, query = mailto.removeprefix("mailto:").partition("?subject=")
    message = AnymailInboundMessage.construct(from_email="dana@example.com", to=address, subject=unquote(query))
    event = AnymailInboundEvent(event_type="inbound", event_id="mg-evt-1", message=message)
    inbound.send(sender=object, event=event, esp_name="Mailgun")
    record = ConsentRecord.objects.get(source="unsubscribe_link")
    assert (record.action, record.category, record.reference) == (
        "withdrawn",
        "education",
        "mailto (Mailgun inbound mg-evt-1)",
    )
    forged = AnymailInboundMessage.construct(from_email="x@example.com", to=address, subject="unsubscribe forged:token")
    inbound.send(sender=object, event=AnymailInboundEvent(event_type="inbound", message=forged), esp_name="Mailgun")
    assert ConsentRecord.objects.filter(source="unsubscribe_link").count() == 1


def test_the_token_reveals_nothing_and_links_sent_before_still_work(client, reader, settings):
    import base64

    from django.core import signing

    token = unsubscribe_token(recipient_id=reader.pk, category="education")
    for text in (token, base64.urlsafe_b64decode(token[3:] + "==").decode("latin-1")):
        assert "education" not in text and f"[{reader.pk}," not in text  # encrypted, not merely signed
    # a readable v1 link from an email sent before the tokens were encrypted
    legacy = signing.dumps([reader.pk, "education", "email"], salt="commhub.unsubscribe.v1", compress=True)
    assert client.get(f"/unsubscribe/{legacy}/").status_code == 200
    # a rotated SECRET_KEY keeps opening links encrypted under the old one
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-rotated-secret-key-" + "r" * 40
    assert client.get(f"/unsubscribe/{token}/").status_code == 200


def test_the_link_is_what_reverse_gives_for_every_base_url_and_script_prefix(settings):
    from django.urls import clear_script_prefix, reverse, set_script_prefix

    from preferences.unsubscribe import unsubscribe_url

    tokens = [unsubscribe_token(recipient_id=n, category=c, channel="email") for n, c in ((1, "news"), (10**9, "é x"))]
    try:
        for base, prefix in (("https://hub.example.com", "/"), ("http://127.0.0.1:8000", "/hub/")):
            settings.PUBLIC_BASE_URL = base
            set_script_prefix(prefix)
            for token in tokens:
                assert unsubscribe_url(token) == f"{base}{reverse('unsubscribe', args=[token])}"
                assert unsubscribe_url(token).startswith(f"{base}{prefix}")
    finally:
        clear_script_prefix()


def test_the_mailto_subject_is_the_token_percent_encoded_as_quote_does():
    from urllib.parse import quote

    from preferences.unsubscribe import unsubscribe_mailto

    tokens = [unsubscribe_token(recipient_id=n, category="news", channel="email") for n in range(1, 40)]
    assert any("=" in t for t in tokens)  # padding: the one character of a token that quote changes
    for token in [*tokens, "not a token/é?&="]:
        assert unsubscribe_mailto(token).endswith(f"?subject={quote('unsubscribe ' + token)}")
