"""anymail's ESP calls through the lean urllib3 session put the same request on the wire as through `requests`
(the fake ESPs parse both), and its network errors classify as before: a read timeout may have been sent
(ambiguous), a refused connection was not."""

from __future__ import annotations

import socket

import pytest
import requests
from django.conf import settings as django_settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from notifications.channels.base import BatchMessage, BatchRecipient, OutboundMessage, TransientError
from notifications.channels.email import EmailProvider
from notifications.channels.http import LeanSession
from tests.conftest import mailgun_settings, postmark_settings

MESSAGE = OutboundMessage(
    notification_id="7d1f0000-0000-4000-8000-000000000001",
    channel="email",
    to="dana@example.com",
    subject="Rent is due — 1 May",
    body="Hello Dana,\nyour rent (€900) is due.",
    html="<p>Hello Dana, your rent (&euro;900) is due.</p>",
    headers={"List-Unsubscribe": "<https://hub.example/u/abc>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    metadata={"type": "payment_reminder"},
)


def _lean(on: bool, settings) -> None:
    settings.COMMHUB = {**django_settings.COMMHUB, "LEAN_HTTP": on}


def _sent_through(on: bool, settings, fake, send) -> tuple[type, object]:
    _lean(on, settings)
    provider = EmailProvider()
    provider.open()
    try:
        kind = type(provider.connection.session)
        send(provider)
    finally:
        provider.close()
    [recorded] = fake.sent()[-1:]
    fake.reset()
    return kind, recorded


@pytest.mark.parametrize("esp", [mailgun_settings, postmark_settings])
def test_one_message_reaches_the_esp_the_same_through_both_sessions(esp, fake, settings):
    for name, value in esp(fake).items():
        setattr(settings, name, value)
    lean_kind, lean = _sent_through(True, settings, fake, lambda p: p.send(MESSAGE))
    plain_kind, plain = _sent_through(False, settings, fake, lambda p: p.send(MESSAGE))
    assert (lean_kind, plain_kind) == (LeanSession, requests.Session)
    assert lean.fields == plain.fields and lean.status == plain.status == 200
    for header in ("Authorization", "User-Agent", "X-Postmark-Server-Token"):
        assert lean.headers.get(header) == plain.headers.get(header)
    assert lean.headers["Content-Type"].split(";")[0] == plain.headers["Content-Type"].split(";")[0]


def test_a_batch_with_recipient_variables_is_the_same_multipart_form(fake, settings):
    for name, value in mailgun_settings(fake).items():
        setattr(settings, name, value)
    batch = BatchMessage(
        channel="email",
        subject="Your %recipient.month% report",
        body="Hi %recipient.name%",
        html="<p>Hi %recipient.name%</p>",
        recipients=tuple(
            BatchRecipient(
                notification_id=f"7d1f0000-0000-4000-8000-00000000000{i}",
                to=f"p{i}@example.com",
                merge_data={"name": f"P{i}", "month": "May"},
                headers={"List-Unsubscribe": f"<https://hub.example/u/{i}>"},
            )
            for i in range(3)
        ),
    )
    results: dict = {}
    _, lean = _sent_through(True, settings, fake, lambda p: results.update(lean=p.send_batch(batch)))
    _, plain = _sent_through(False, settings, fake, lambda p: results.update(plain=p.send_batch(batch)))
    assert lean.fields == plain.fields and lean.batch == plain.batch == 3
    assert lean.headers["Content-Type"].startswith("multipart/form-data")
    assert len(results["lean"]) == 3 and all(r.provider_message_id for r in results["lean"].values())


def test_network_errors_classify_as_they_did(settings, fake):
    for name, value in mailgun_settings(fake).items():
        setattr(settings, name, value)
    _lean(True, settings)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts, never answers: the request went out and no answer came
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused_port = closed.getsockname()[1]
    closed.close()  # nobody listens: the request never left
    try:
        for url, ambiguous in (
            (f"http://127.0.0.1:{silent.getsockname()[1]}/v3", True),
            (f"http://127.0.0.1:{refused_port}/v3", False),
        ):
            settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_API_URL": url, "REQUESTS_TIMEOUT": 0.5}
            provider = EmailProvider()
            provider.open()
            assert isinstance(provider.connection.session, LeanSession)
            with pytest.raises(TransientError) as raised:
                provider.send(MESSAGE)
            provider.close()
            assert raised.value.ambiguous is ambiguous, raised.value
    finally:
        silent.close()


@pytest.mark.parametrize(
    "data",
    [
        {"to": ["a@example.com", "b@example.com"], "subject": "Héllo & bye", "skip": None, "n": 3},
        [("v:id", "1"), ("v:id", "2"), ("o:tag", None)],
        "raw=body&x=1",
    ],
)
def test_forms_encode_as_requests_encodes_them(data):
    from notifications.channels.http import _encoded
    from tests.fakes.providers import _form_data

    prepared = requests.Request("POST", "http://esp.example/", data=data).prepare()
    body, _ = _encoded(data, None)
    assert body == (prepared.body.encode() if isinstance(prepared.body, str) else prepared.body)
    files = [("html", (None, "<p>x</p>")), ("attachment", ("a.txt", b"abc", "text/plain"))]
    if not isinstance(data, str):
        prepared = requests.Request("POST", "http://esp.example/", data=data, files=files).prepare()
        body, content_type = _encoded(data, files)
        ours = list(_form_data(body, content_type))
        theirs = list(_form_data(prepared.body, prepared.headers["Content-Type"]))
        assert ours == theirs and len(ours) >= 3


def test_the_multipart_body_is_urllib3s_byte_for_byte():
    import urllib3

    from notifications.channels.http import _fields, _multipart

    data = {"to": ["a@example.com", 'q"uote\r\n@example.com'], "subject": "Héllo", "v:n": 3, "h:X-Tag": b"raw"}
    files = [
        ("html", (None, "<p>é</p>")),
        ("text", (None, b"bytes", None)),
        ("typed", (None, "{}", "application/json")),
        ("attachment", ('a "b".txt', b"\x00abc", "text/plain")),
        ("inline", "x"),
    ]
    boundary = "b0undary"
    ours = _multipart(_fields(data), files, boundary=boundary)
    expected_fields = [(name, value if isinstance(value, bytes | str) else str(value)) for name, value in _fields(data)]
    for name, spec in files:
        filename, content, content_type = (*spec, None)[:3] if isinstance(spec, tuple) else (name, spec, None)
        field = urllib3.fields.RequestField(name=name, data=content, filename=filename)
        field.make_multipart(content_type=content_type)
        expected_fields.append(field)
    assert ours == urllib3.encode_multipart_formdata(expected_fields, boundary=boundary)


def test_the_session_keeps_one_pool_per_host_and_reuses_its_connection(fake):
    session = LeanSession({"User-Agent": "commhub-test"})
    try:
        form = {"from": "a@mg.example.com", "to": "b@example.com", "subject": "Hi", "text": "x"}
        for _ in range(3):
            answer = session.request(
                "POST", f"{fake.base_url}/v3/mg.example.com/messages", data=form, auth=("api", fake.mailgun_api_key)
            )
            assert answer.status_code == 200, answer.text
        assert len(fake.sent()) == 3
        [pool] = session._pools.values()
        assert pool.num_connections == 1 and pool.num_requests == 3
        session.close()
        assert session._pools == {}
        # a closed session opens a new pool when asked again
        assert session.request("GET", f"{fake.base_url}/nowhere").status_code == 404
    finally:
        session.close()


def test_an_sms_reaches_twilio_the_same_through_both_clients_and_timeouts_stay_maybe_sent(fake, settings):
    from notifications.channels.sms import LeanTwilioHttpClient, TwilioSmsProvider, twilio_client
    from tests.conftest import twilio_settings

    for name, value in twilio_settings(fake).items():
        setattr(settings, name, value)
    sms = OutboundMessage(notification_id="7d1f", channel="sms", to="+14155550123", body="Rent is due: €900")
    recorded = {}
    for on in (True, False):
        _lean(on, settings)
        provider = TwilioSmsProvider()
        assert isinstance(provider.client.http_client, LeanTwilioHttpClient) is on
        result = provider.send(sms)
        assert result.provider_message_id.startswith("SM") and result.segments == 1
        [recorded[on]] = fake.sent()[-1:]
        fake.reset()
    assert recorded[True].fields == recorded[False].fields and recorded[True].path == recorded[False].path
    for header in ("Authorization", "User-Agent", "Content-Type", "Accept"):
        assert recorded[True].headers.get(header) == recorded[False].headers.get(header), header
    # the request went out and no answer came back: Twilio may have sent it
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        _lean(True, settings)
        settings.TWILIO_API_BASE_URL, settings.TWILIO_TIMEOUT_SECONDS = (
            f"http://127.0.0.1:{silent.getsockname()[1]}",
            0.5,
        )
        with pytest.raises(TransientError) as raised:
            TwilioSmsProvider(client=twilio_client()).send(sms)
        assert raised.value.ambiguous is True, raised.value
    finally:
        silent.close()


def _parsed(convert, value):
    from anymail.exceptions import AnymailInvalidAddress

    try:
        return [(a.display_name, a.username, a.domain, a.addr_spec, a.address) for a in convert(value)]
    except AnymailInvalidAddress:
        return "invalid"


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.from_regex(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,20}@[A-Za-z0-9.-]{1,20}", fullmatch=True),
            st.from_regex(r"[a-z]{1,8}(\.[a-z0-9]{1,8})?@[a-z0-9-]{1,10}\.[a-z]{2,4}", fullmatch=True),
            st.text(max_size=30),
            st.sampled_from(['"Dana R." <dana@example.com>', "a@b.c, d@e.f", "é@exämple.com", "x@[127.0.0.1]"]),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_recipients_parse_as_anymail_parses_them(addresses):
    from anymail.utils import parse_address_list

    from notifications.channels.mailgun import recipients

    assert _parsed(recipients, addresses) == _parsed(lambda v: parse_address_list(v, field="to"), addresses)
