"""Batch ingest built for throughput: the plain item reading, the row construction and the COPY insert give
exactly what the serializer, the model constructor and Django's insert give; work shared between items of a
batch is only shared where its answer cannot differ."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models.signals import post_init, post_save, pre_init, pre_save
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commhub.sql import json_bytes, row_by, row_insert, row_new, rows_by, rows_insert
from notifications.api.contract import ContractSendInput
from notifications.api.serializers import SendInput
from notifications.models import Notification
from preferences.models import Recipient
from templates_app.models import Template
from templates_app.services import version_create, version_publish
from tests.factories import RecipientFactory, grant_marketing, submit

ALERT = {"amount": "$120.00", "account": "checking"}

# --- the plain reading of an item -------------------------------------------------------------------------

_text = st.one_of(
    st.sampled_from(["123", " 123", "123 ", "", "financial_alert", "sms", "email", "high", "a\x00b", "x" * 129]),
    st.text(alphabet="ab \t\x00é1", max_size=6),
)
_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.floats(allow_nan=False, allow_infinity=False, width=16),
    _text,
    st.lists(_text, max_size=2),
    st.dictionaries(_text, st.one_of(_text, st.integers(), st.none(), st.lists(_text, max_size=2)), max_size=3),
)


def _items(recipient: str, type_name: str):
    keys = st.sampled_from([recipient, type_name, "data", "channel", "priority", "send_at", "extra"])
    return st.dictionaries(keys, _value, max_size=6)


def _agrees(input_class, raw) -> bool:
    """The plain reading either declines or gives exactly the serializer's submit request."""
    plain = input_class.plain.request(raw)
    if plain is None:
        return False
    serializer = input_class(data=raw)
    assert serializer.is_valid(), (raw, serializer.errors)
    assert serializer.to_submit_request() == plain, raw
    return True


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(v1=_items("recipient", "type"), contract=_items("user_id", "trigger_type"))
def test_the_plain_reading_of_an_item_agrees_with_the_serializer(v1, contract):
    _agrees(SendInput, v1)
    _agrees(ContractSendInput, contract)


@pytest.mark.parametrize(
    ("input_class", "raw"),
    [
        (SendInput, {"recipient": "123", "type": "financial_alert", "data": ALERT}),
        (SendInput, {"recipient": 123, "type": "financial_alert", "channel": "email", "priority": 2}),
        (ContractSendInput, {"user_id": 123, "trigger_type": "financial_alert", "data": ALERT, "channel": None}),
    ],
)
def test_the_common_items_take_the_plain_reading(input_class, raw):
    assert _agrees(input_class, raw)


@pytest.mark.parametrize(
    "raw",
    [
        {"recipient": " 123", "type": "financial_alert"},  # the serializer trims it
        {"recipient": "123", "type": "financial_alert", "priority": "high"},
        {"recipient": "123", "type": "financial_alert", "send_at": "2026-12-03T10:00:00Z"},
        {"recipient": {"external_id": "9"}, "type": "financial_alert"},
        {"recipient": "123", "type": "financial_alert", "data": {"note": "a\x00b"}},
        {"recipient": "123", "type": "financial_alert", "channel": None},
        {"recipient": True, "type": "financial_alert"},
    ],
)
def test_anything_unusual_goes_through_the_serializer(raw):
    assert SendInput.plain.request(raw) is None


# --- rows built and inserted in bulk ---------------------------------------------------------------------


@pytest.mark.django_db
def test_row_new_builds_what_the_model_constructor_builds(catalogue, django_assert_num_queries):
    recipient = RecipientFactory(external_id="123")
    ntype = catalogue["financial_alert"]
    now = timezone.now()
    values = {
        "recipient": recipient,
        "notification_type": ntype,
        "channel": "sms",
        "priority": 1,
        "queue": "sms.critical",
        "data": ALERT,
        "decision_trace": [{"check": "type", "outcome": "pass", "reason": "x"}],
        "to_address": recipient.phone,
        "send_at": now,
        "created_at": now,
        "submitted_by": None,
    }
    built, expected = row_new(Notification, **values), Notification(**values)
    for field in Notification._meta.concrete_fields:
        if field.attname != "id":
            assert getattr(built, field.attname) == getattr(expected, field.attname), field.attname
    with django_assert_num_queries(0):
        assert built.recipient is recipient and built.notification_type is ntype and built.submitted_by is None
    assert built._state.adding and built.pk is not None and built.pk != expected.pk
    # row_new sends no pre_init/post_init signal: it is only right while nothing listens for them
    assert not pre_init.has_listeners(Notification) and not post_init.has_listeners(Notification)
    with pytest.raises(TypeError, match="no field"):
        row_new(Notification, recipient=recipient, colour="blue")


@pytest.mark.django_db
def test_rows_read_by_hand_written_statements_are_the_instances_the_orm_builds(catalogue):
    from django.contrib.auth import get_user_model

    from commhub.sql import _plain_loading, instances_from
    from notifications.delivery.claim import CLAIM_FIELDS
    from preferences.models import ConsentRecord, Preference

    recipient = RecipientFactory(external_id="123", attributes={"plan": "pro", "n": [1, 2]})
    grant_marketing(recipient, "email")
    Preference.objects.create(recipient=recipient, category="education", channel="email", enabled=False)
    n = submit(recipient="123")
    user_model = get_user_model()
    user = user_model.objects.create_user(username="billing-backend", password="x" * 20)
    cases = [
        (Recipient, rows_by(Recipient, "id", [recipient.pk]), Recipient.objects.filter(pk=recipient.pk)),
        (ConsentRecord, rows_by(ConsentRecord, "recipient_id", [recipient.pk]), ConsentRecord.objects.all()),
        (Preference, rows_by(Preference, "recipient_id", [recipient.pk]), Preference.objects.all()),
        (user_model, rows_by(user_model, "id", [user.pk]), user_model.objects.filter(pk=user.pk)),
    ]
    table = Notification._meta.db_table
    returning = ", ".join(f'"{Notification._meta.get_field(f).column}"' for f in CLAIM_FIELDS)
    statement = f'SELECT {returning} FROM "{table}" WHERE "id" = %s'  # noqa: S608 (names from model metadata)
    claimed = instances_from(Notification, CLAIM_FIELDS, statement, [n.pk])
    cases.append((Notification, claimed, Notification.objects.filter(pk=n.pk).only(*CLAIM_FIELDS)))
    for model, ours, orm in cases:
        assert _plain_loading(model), model
        orm = list(orm)
        assert len(ours) == len(orm), model
        for mine, theirs in zip(ours, orm, strict=True):
            assert type(mine) is model and mine.pk == theirs.pk
            assert mine.get_deferred_fields() == theirs.get_deferred_fields(), model
            assert (mine._state.adding, mine._state.db) == (False, theirs._state.db)
            for name in {f.attname for f in model._meta.concrete_fields} - mine.get_deferred_fields():
                assert getattr(mine, name) == getattr(theirs, name), (model, name)
                assert type(getattr(mine, name)) is type(getattr(theirs, name)), (model, name)
                if isinstance(getattr(theirs, name), datetime):  # psycopg's loader where Django's would do the same
                    assert getattr(mine, name).tzinfo is getattr(theirs, name).tzinfo, (model, name)
    claimed[0].refresh_from_db(fields=["rendered_body"])  # a deferred field still loads on demand
    assert claimed[0].recipient == recipient and claimed[0].recipient is not recipient


@pytest.mark.django_db
def test_copy_and_the_prebuilt_insert_store_every_value_as_django_does(catalogue):
    """COPY's text format escapes tabs, newlines and backslashes itself; every column must come back as
    bulk_create stores it, and so must the single-row INSERT built once per model."""
    recipient = RecipientFactory(external_id="123")
    awkward = "tab\there\nnew line \\N back\\slash 'quote' \"dq\" é ☃ \r"
    now = timezone.now()

    def row() -> Notification:
        return row_new(
            Notification,
            recipient=recipient,
            notification_type=catalogue["financial_alert"],
            channel="sms",
            queue="sms.critical",
            data={
                "text": awkward,
                "n": 1.5,
                "list": [None, True, "\\"],
                "nested": {"k\t": awkward},
                "huge": 2**70,  # past orjson's 64 bits: json.dumps writes it
                "tiny": -(2**63),
            },
            decision_trace=[{"check": "x", "outcome": "pass", "reason": awkward}],
            to_address=recipient.phone,
            last_error=awkward,
            cost=Decimal("0.0075"),
            segments=2,
            send_at=now,
            created_at=now,
        )

    copied, alone, inserted = row(), row(), row()
    rows_insert(Notification, [copied])
    row_insert(alone)
    Notification.objects.bulk_create([inserted])
    a, b, c = (Notification.objects.get(pk=n.pk) for n in (copied, alone, inserted))
    for field in Notification._meta.concrete_fields:
        if field.attname not in ("id", "updated_at"):
            assert getattr(a, field.attname) == getattr(c, field.attname), field.attname
            assert getattr(b, field.attname) == getattr(c, field.attname), field.attname
    assert a.data["text"] == awkward and a.last_error == awkward and a.cost == Decimal("0.0075")
    assert not alone._state.adding
    # both skip Django's save signals: only right while nothing listens for them
    assert not pre_save.has_listeners(Notification) and not post_save.has_listeners(Notification)


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@given(value=_json)
@settings(max_examples=300, deadline=None)
def test_the_batch_inserts_json_reads_back_as_json_dumps_writes_it(value):
    """jsonb columns of the batch insert are encoded by orjson where it can (json.dumps otherwise, e.g. past 64-bit
    integers or lone surrogates): the document must read back as the one json.dumps would have stored."""
    try:
        expected = json.loads(json.dumps(value))
    except (TypeError, ValueError):
        pytest.skip("json.dumps itself cannot write it")
    assert json.loads(json_bytes(value)) == expected
    assert json.loads(json_bytes({"k": [value]})) == {"k": [expected]}


def test_json_for_the_batch_insert_refuses_what_json_dumps_refuses():
    """Anything json.dumps does not write as JSON is not quietly written by orjson either."""
    for value in (timezone.now(), {1: "int key"}, {"when": timezone.now()}):
        try:
            expected: object = json.loads(json.dumps(value))
        except TypeError as exc:
            expected = type(exc)
        try:
            got: object = json.loads(json_bytes(value))
        except TypeError as exc:
            got = type(exc)
        assert got == expected, value


@pytest.mark.django_db
def test_rows_insert_refuses_rows_without_primary_keys(catalogue):
    row = Notification(recipient=RecipientFactory(), notification_type=catalogue["financial_alert"])
    row.id = None
    with pytest.raises(ValueError, match="primary keys"):
        rows_insert(Notification, [row])


# --- shared work in a batch ------------------------------------------------------------------------------


def _sms_template_reading_the_recipient(catalogue) -> None:
    template = Template.objects.get(notification_type=catalogue["financial_alert"], channel="sms", locale="en")
    version = version_create(
        template=template,
        actor="test",
        text="Hi {{ recipient.attributes.first_name | default('') }}: {{ amount }} on your {{ account }} account.",
        variables=[
            {"name": "amount", "type": "string", "required": True, "sample": "$1"},
            {"name": "account", "type": "string", "required": True, "sample": "checking"},
        ],
    )
    version_publish(version=version, actor="test")


@pytest.mark.django_db
def test_a_batch_prices_each_item_by_its_own_text_where_the_template_reads_the_recipient(api, catalogue):
    _sms_template_reading_the_recipient(catalogue)
    RecipientFactory(external_id="short", attributes={"first_name": "Al"})
    RecipientFactory(external_id="long", attributes={"first_name": "B" * 150})
    RecipientFactory(external_id="unicode", attributes={"first_name": "Zoë ☃"})
    items = [{"recipient": who, "type": "financial_alert", "data": ALERT} for who in ("short", "long", "unicode")]
    response = api.post("/api/v1/notifications/batch/", {"notifications": items}, format="json")
    assert response.status_code == 200, response.content
    segments = {n.recipient.external_id: n.segments for n in Notification.objects.select_related("recipient")}
    # one GSM segment; 150 more characters make two; the snowman is not GSM, so UCS-2 at 70 a segment
    assert segments == {"short": 1, "long": 2, "unicode": 1}
    costs = {r["index"]: Decimal(r["cost"]) for r in response.json()["results"]}
    assert costs[1] == 2 * costs[0]


@pytest.mark.django_db
def test_items_with_the_same_bad_data_each_get_their_error_and_the_good_ones_go(api, catalogue):
    for who in ("a", "b", "c"):
        RecipientFactory(external_id=who)
    bad = {"amount": "$5"}
    items = [
        {"recipient": "a", "type": "financial_alert", "data": bad},
        {"recipient": "b", "type": "financial_alert", "data": ALERT},
        {"recipient": "c", "type": "financial_alert", "data": bad},
        {"recipient": "c", "type": "financial_alert", "data": {"amount": "$1", "account": "nul \x00"}},
    ]
    response = api.post("/api/v1/notifications/batch/", {"notifications": items}, format="json")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["success"] for r in results] == [False, True, False, False]
    missing = {"data": {"account": ["This variable is required by the template."]}}
    assert results[0]["errors"] == results[2]["errors"] == missing
    assert "NUL" in str(results[3]["errors"]["data"])
    assert list(Notification.objects.values_list("recipient__external_id", flat=True)) == ["b"]


@pytest.mark.django_db
def test_row_by_and_rows_by_read_what_the_orm_reads():
    from datetime import time as clock

    from preferences.models import Recipient

    RecipientFactory(
        external_id="dana",
        attributes={"first_name": "Dana", "tier": {"level": 2}},
        send_window_start=clock(9, 30),
        send_window_end=clock(20, 0),
    )
    read, orm = row_by(Recipient, "external_id", "dana"), Recipient.objects.get(external_id="dana")
    for field in Recipient._meta.concrete_fields:
        assert getattr(read, field.attname) == getattr(orm, field.attname), field.attname
    assert read.attributes["tier"] == {"level": 2} and not read._state.adding
    assert row_by(Recipient, "external_id", "nobody") is None

    RecipientFactory(external_id="sam", attributes={})
    many = {r.external_id: r for r in rows_by(Recipient, "external_id", ["dana", "sam", "nobody"])}
    assert set(many) == {"dana", "sam"} and rows_by(Recipient, "external_id", []) == []
    for field in Recipient._meta.concrete_fields:
        assert getattr(many["dana"], field.attname) == getattr(orm, field.attname), field.attname


# --- what a batch reads up front ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_batch_reads_up_front_only_the_channels_its_items_may_go_by(api, catalogue):
    """financial_alert goes by SMS, else email: the batch reads those two channels' suppressions and nothing about
    push or webhooks; a suppression on either channel still refuses, the fallback included."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from preferences.services import suppression_add

    RecipientFactory(external_id="both-blocked", phone="+14155550101", email="both@example.com")
    RecipientFactory(external_id="sms-blocked", phone="+14155550102", email="sms@example.com")
    RecipientFactory(external_id="free", phone="+14155550103", email="free@example.com")
    suppression_add(channel="sms", address="+14155550101", reason="stop")
    suppression_add(channel="email", address="BOTH@example.com", reason="bounce")
    suppression_add(channel="sms", address="+14155550102", reason="stop")
    items = [
        {"recipient": who, "type": "financial_alert", "data": ALERT} for who in ("both-blocked", "sms-blocked", "free")
    ]
    with CaptureQueriesContext(connection) as queries:
        response = api.post("/api/v1/notifications/batch/", {"notifications": items}, format="json")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [(r["status"], r["channel"]) for r in results] == [
        ("suppressed", "sms"),
        ("queued", "email"),
        ("queued", "sms"),
    ]
    both = Notification.objects.get(pk=results[0]["id"])
    steps = [(s["check"], s["outcome"]) for s in both.decision_trace]
    assert steps.count(("suppression", "refuse")) == 2, steps  # SMS, then the email fallback
    targets = ("push_pushsubscription", "push_devicetoken", "hooks_webhookendpoint")  # who push/webhooks reach
    touched = [q["sql"][:160] for q in queries.captured_queries if any(t in q["sql"] for t in targets)]
    assert not touched, touched
    read = " ".join(q["sql"] for q in queries.captured_queries)  # the batch's reads are seen (and counted) as any
    assert "preferences_suppression" in read and "preferences_recipient" in read


@pytest.mark.django_db
def test_deciding_on_a_channel_the_batch_did_not_read_reads_it_then(catalogue):
    """The up-front read is only a shortcut: an item asking for a channel outside it is decided on fresh facts."""
    from notifications.decision import DecisionContext, decide
    from preferences.services import suppression_add

    recipient = RecipientFactory(external_id="email-blocked", email="blocked@example.com")
    suppression_add(channel="email", address="blocked@example.com", reason="bounce")
    context = DecisionContext()
    context.preload([recipient], on={"sms"})
    assert context.loaded[recipient.pk] == frozenset({"sms"})
    now = timezone.now()
    decision = decide(
        ntype=catalogue["financial_alert"],
        recipient=recipient,
        requested_channel="email",
        send_at=now,
        now=now,
        context=context,
    )
    assert decision.refused and decision.refusal is not None and decision.refusal.code == "suppressed_bounce"


def test_a_statement_run_again_and_again_is_prepared_once_on_postgresql(catalogue):
    """With server-side binding, psycopg prepares a statement once it has run DB_PREPARE_THRESHOLD times on a
    connection: PostgreSQL parses and plans it once, not per send (commhub.settings.database)."""
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    recipient = RecipientFactory()
    threshold = connection.settings_dict["OPTIONS"]["prepare_threshold"]
    for _ in range(threshold + 1):
        assert row_by(Recipient, "external_id", recipient.external_id).pk == recipient.pk
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert [s for s in prepared if s.startswith("SELECT") and 'FROM "preferences_recipient" WHERE "external_id"' in s]
