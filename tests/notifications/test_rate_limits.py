"""Rate limits: the catalogue's per type x channel limits (per recipient), the optional cap for everyone together
and each sender's pace, shared by every worker.

The limiter is exercised on both stores it has (Redis with its Lua script; the database in one transaction),
then through the drain with the real Twilio client against the fake: rows over a limit wait in the queue
(no attempt spent, nothing failed), other types keep flowing, a critical message goes ahead of bulk work on
its sender, and a second sender number takes over when the first fails or is full.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django.utils import timezone

from notifications.channels.failover import breaker_states
from notifications.constants import Status
from notifications.delivery import queue_drain
from notifications.models import Notification, TypeChannel
from notifications.ratelimit import Rate, limiter, reset_rate_limits
from notifications.selectors import notification_types
from tests.factories import RecipientFactory, grant_marketing, submit
from tests.fakes.providers import TWILIO

REMINDER = {"bill_name": "Rent", "amount": "$900", "due_date": "Friday"}
FIRST, SECOND = "+15005550006", "+15005550007"


def _use_store(settings, store: str) -> None:
    if store == "redis" and not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("Redis is not reachable in this run")
    url = settings.CELERY_BROKER_URL if store == "redis" else ""
    settings.COMMHUB = {**settings.COMMHUB, "RATE_LIMIT_REDIS_URL": url}
    reset_rate_limits()


@pytest.fixture(params=["redis", "database"])
def store(request, settings, db):
    _use_store(settings, request.param)
    return limiter()


def rate(key: str, per_second: float, burst: int = 1) -> Rate:
    return Rate(key=key, per_second=per_second, label=key, burst=burst)


# --- the limiter --------------------------------------------------------------------------------------


def test_a_bucket_allows_its_burst_then_one_unit_per_interval(store):
    r = rate("b", per_second=2, burst=3)  # slow enough that a loaded machine cannot earn a unit meanwhile
    assert [store.acquire(common=[r], choices=[], units=1).allowed for _ in range(3)] == [True] * 3
    refused = store.acquire(common=[r], choices=[], units=1)
    assert not refused.allowed and refused.blocked_by == r
    assert 0.2 < refused.wait <= 0.51
    time.sleep(refused.wait + 0.01)
    assert store.acquire(common=[r], choices=[], units=1).allowed


def test_units_count_so_a_three_segment_sms_takes_three(store):
    r = rate("segments", per_second=2, burst=3)
    assert store.acquire(common=[], choices=[r], units=3).allowed
    refused = store.acquire(common=[], choices=[r], units=1)
    assert not refused.allowed and 0.3 < refused.wait <= 0.51  # one unit's interval after the three


def test_a_refusal_consumes_nothing(store):
    type_limit, sender = rate("type", per_second=1, burst=1), rate("sender", per_second=1, burst=2)
    assert store.acquire(common=[type_limit], choices=[sender], units=1).allowed
    refused = store.acquire(common=[type_limit], choices=[sender], units=1)
    assert not refused.allowed and refused.blocked_by == type_limit
    # the sender was not charged for the refused request: it still has its second unit
    assert store.acquire(common=[], choices=[sender], units=1).allowed
    assert not store.acquire(common=[], choices=[sender], units=1).allowed


def test_the_first_sender_with_room_is_taken(store):
    first, second = rate("s1", per_second=1, burst=2), rate("s2", per_second=2, burst=2)
    grants = [store.acquire(common=[], choices=[first, second], units=1) for _ in range(4)]
    assert [g.choice for g in grants] == [0, 0, 1, 1]
    refused = store.acquire(common=[], choices=[first, second], units=1)
    assert not refused.allowed and 0.1 < refused.wait <= 0.51  # the second sender (2/s) has room first, not the 1/s


def test_critical_work_goes_ahead_of_bulk_work_on_a_full_sender(store):
    bulk = rate("shared", per_second=1, burst=2)
    critical = bulk.with_headroom(3)
    assert [store.acquire(common=[], choices=[bulk], units=1).allowed for _ in range(3)] == [True, True, False]
    assert [store.acquire(common=[], choices=[critical], units=1).allowed for _ in range(4)] == [True] * 3 + [False]
    assert not store.acquire(common=[], choices=[bulk], units=1).allowed  # bulk waits behind the critical sends


@pytest.mark.parametrize("store_name", ["redis", "database"])
@pytest.mark.django_db(transaction=True)
def test_eight_threads_together_stay_within_the_rate(settings, store_name):
    _use_store(settings, store_name)
    r = rate("shared-by-threads", per_second=40, burst=5)
    granted: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + 1.0

    def hammer() -> None:
        try:
            while time.monotonic() < stop_at:
                if limiter().acquire(common=[r], choices=[], units=1).allowed:
                    with lock:
                        granted.append(time.monotonic())
                time.sleep(0.002)
        finally:
            connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    ceiling = 5 + 40 * elapsed
    print(f"\n{store_name}: 8 threads, 1 s at 40/s burst 5: {len(granted)} granted (ceiling {ceiling:.0f})")
    assert len(granted) <= ceiling + 1
    assert len(granted) >= 0.5 * 40 * 1.0  # it grants at the rate, not just refuses


# --- through the drain --------------------------------------------------------------------------------


@pytest.fixture
def limits_on(settings, via_fakes, db):
    """Type limits on, buckets in Redis (the broker), the real Twilio client against the fake."""
    _use_store(settings, "redis")
    settings.COMMHUB = {**settings.COMMHUB, "TYPE_RATE_LIMITS": True}
    return via_fakes


def _set_sms_limit(key: str, per_minute: int) -> None:
    TypeChannel.objects.filter(notification_type__key=key, channel="sms").update(rate_limit_per_minute=per_minute)
    notification_types.invalidate()


def test_rows_over_the_type_limit_wait_and_other_types_keep_going(catalogue, recipient, limits_on, settings):
    settings.COMMHUB = {**settings.COMMHUB, "SEND_WINDOW_START": "00:00", "SEND_WINDOW_END": "23:59"}
    grant_marketing(recipient, "sms", category="engagement")
    _set_sms_limit("payment_reminder", 3)
    reminders = [submit(type="payment_reminder", data=REMINDER) for _ in range(5)]
    checkin = submit(type="weekly_checkin", data={})
    assert {n.queue for n in [*reminders, checkin]} == {"sms_daily"}

    result = queue_drain(queue="sms_daily")

    rows = {n.pk: n for n in Notification.objects.filter(pk__in=[n.pk for n in reminders])}
    sent = [n for n in rows.values() if n.status == Status.SENT]
    waiting = [n for n in rows.values() if n.status == Status.QUEUED]
    assert len(sent) == 3 and len(waiting) == 2  # a burst of the per-minute count, then it waits
    assert all(n.attempts == 0 and n.claims == 0 and not n.last_error for n in waiting)  # not failed, not poison
    last_steps = [n.decision_trace[-1] for n in waiting]
    assert all(
        s["check"] == "rate limit" and "payment_reminder sms 3/min per recipient reached" in s["reason"]
        for s in last_steps
    )
    checkin.refresh_from_db()
    assert checkin.status == Status.SENT, checkin.decision_trace  # another type in the same queue was not held up
    assert len(limits_on.sent(TWILIO)) == 4
    assert result.throttled == 2 and 15 < result.wake_in <= 20.5  # 60 s / 3 per minute: room for one more


def test_a_drain_that_meets_the_limit_again_adds_no_second_trace_line(catalogue, recipient, limits_on):
    _set_sms_limit("payment_reminder", 1)
    submit(type="payment_reminder", data=REMINDER)
    second = submit(type="payment_reminder", data=REMINDER)
    queue_drain(queue="sms_daily")
    queue_drain(queue="sms_daily")
    second.refresh_from_db()
    assert second.status == Status.QUEUED
    assert [s["check"] for s in second.decision_trace].count("rate limit") == 1
    assert len(limits_on.sent(TWILIO)) == 1


def test_a_paced_sender_spaces_its_sends_and_critical_goes_first(catalogue, recipient, limits_on, settings):
    settings.COMMHUB = {
        **settings.COMMHUB,
        "TYPE_RATE_LIMITS": False,
        "SENDER_RATES": {f"twilio:{FIRST}": 4.0},
        "RATE_CRITICAL_HEADROOM": 2,
        "RATE_WAIT_INLINE_SECONDS": 1.0,
    }
    bulk = [submit(type="payment_reminder", data=REMINDER) for _ in range(10)]
    started = time.monotonic()
    result = queue_drain(queue="sms_daily", time_budget=60)
    stamps = [r.at for r in limits_on.sent(TWILIO)]
    # one every 0.25 s (a sender's pace has no burst); waits under a second are slept in the sender thread
    assert result.sent == 10 and time.monotonic() - started >= 2.0
    assert all(len([t for t in stamps if s <= t < s + 1.0]) <= 4 + 1 for s in stamps)

    # the sender is at its pace; with no waiting allowed, more bulk is held back but a critical alert goes now
    settings.COMMHUB = {**settings.COMMHUB, "RATE_WAIT_INLINE_SECONDS": 0.0}
    more_bulk = submit(type="payment_reminder", data=REMINDER)
    alert = submit(type="financial_alert")
    queue_drain(queue="sms_daily")
    queue_drain(queue="sms_critical")
    more_bulk.refresh_from_db()
    alert.refresh_from_db()
    assert more_bulk.status == Status.QUEUED and more_bulk.decision_trace[-1]["check"] == "rate limit"
    assert alert.status == Status.SENT
    assert Notification.objects.filter(pk__in=[n.pk for n in bulk], status=Status.SENT).count() == 10


def test_work_over_a_sender_pace_waits_in_the_queue_when_the_wait_is_long(catalogue, recipient, limits_on, settings):
    settings.COMMHUB = {
        **settings.COMMHUB,
        "TYPE_RATE_LIMITS": False,
        "SENDER_RATES": {f"twilio:{FIRST}": 0.5},  # one segment every two seconds
        "RATE_WAIT_INLINE_SECONDS": 0.2,
    }
    rows = [submit(type="payment_reminder", data=REMINDER) for _ in range(3)]
    result = queue_drain(queue="sms_daily")
    assert result.sent == 1 and result.sender_blocked and not result.more_may_wait
    assert 1.5 < result.wake_in <= 2.05
    statuses = sorted(Notification.objects.filter(pk__in=[n.pk for n in rows]).values_list("status", flat=True))
    assert statuses == [Status.QUEUED, Status.QUEUED, Status.SENT]


def test_a_second_sender_takes_the_overflow_of_the_first(catalogue, recipient, limits_on, settings):
    settings.TWILIO_SENDERS = [FIRST, SECOND]
    settings.COMMHUB = {
        **settings.COMMHUB,
        "TYPE_RATE_LIMITS": False,
        "SENDER_RATES": {f"twilio:{FIRST}": 1.0, f"twilio:{SECOND}": 1.0},
        "RATE_WAIT_INLINE_SECONDS": 0.0,
    }
    for _ in range(3):
        submit(type="payment_reminder", data=REMINDER)
    result = queue_drain(queue="sms_daily")
    assert [r.fields["From"] for r in limits_on.sent(TWILIO)] == [FIRST, SECOND]
    assert result.sent == 2 and result.sender_blocked


def test_a_failing_sender_number_fails_over_to_the_next_and_comes_back(catalogue, recipient, limits_on, settings):
    settings.TWILIO_SENDERS = [FIRST, SECOND]
    settings.COMMHUB = {**settings.COMMHUB, "BREAKER_FAILURES": 2, "BREAKER_OPEN_SECONDS": 0.5}
    limits_on.fail_always(TWILIO, status=503, message="Service Unavailable", when={"From": FIRST})
    rows = [submit(type="payment_reminder", data=REMINDER) for _ in range(5)]
    queue_drain(queue="sms_daily")
    froms = [r.fields["From"] for r in limits_on.calls(TWILIO)]
    assert froms.count(FIRST) == 2  # two failures open its circuit; then it is skipped
    assert [r.fields["From"] for r in limits_on.sent(TWILIO)] == [SECOND] * 5
    assert breaker_states()[f"twilio:{FIRST}"] == "open"
    assert set(Notification.objects.filter(pk__in=[n.pk for n in rows]).values_list("status", flat=True)) == {"sent"}

    limits_on.recover(TWILIO)
    time.sleep(0.6)  # the cool-down passes: the next send probes the first number
    submit(type="payment_reminder", data=REMINDER)
    queue_drain(queue="sms_daily")
    assert limits_on.sent(TWILIO)[-1].fields["From"] == FIRST
    assert breaker_states()[f"twilio:{FIRST}"] == "closed"


# --- a type's limit protects a person; the optional cap covers everyone -------------------------------------


def _alerts(n: int, *, to: str | None = None) -> list[Notification]:
    people = [RecipientFactory(external_id=f"p{i}", phone=f"+1415666{i:04d}") for i in range(n)] if to is None else []
    who = [p.external_id for p in people] if to is None else [to] * n
    return [submit(recipient=r, type="financial_alert", data={"amount": "$1", "account": "checking"}) for r in who]


def test_fifty_alerts_to_fifty_people_all_go_at_once(catalogue, limits_on):
    assert TypeChannel.objects.get(notification_type__key="financial_alert", channel="sms").rate_limit_per_minute == 10
    alerts = _alerts(50)
    result = queue_drain(queue=alerts[0].queue)
    assert result.sent == 50 and result.throttled == 0
    assert len(limits_on.sent(TWILIO)) == 50


def test_fifteen_alerts_to_one_person_ten_go_five_wait_for_their_room(catalogue, recipient, limits_on):
    alerts = _alerts(15, to="123")
    first = queue_drain(queue=alerts[0].queue)
    assert first.sent == 10 and first.throttled == 5
    waiting = Notification.objects.filter(pk__in=[n.pk for n in alerts], status=Status.QUEUED)
    assert waiting.count() == 5 and all(n.attempts == 0 for n in waiting)
    steps = {n.decision_trace[-1]["reason"] for n in waiting}
    assert steps == {"financial_alert sms 10/min per recipient reached: waiting for room, not failing"}
    due = min(n.send_at for n in waiting)  # held until their person's limit has room: not claimed again before
    assert queue_drain(queue=alerts[0].queue).sent == 0
    time.sleep(max(0.0, (due - timezone.now()).total_seconds()) + 0.2)
    assert queue_drain(queue=alerts[0].queue).sent == 1  # one more a minute / 10: one every 6 s
    assert len(limits_on.sent(TWILIO)) == 11


def test_the_optional_cap_holds_for_everyone_together(catalogue, limits_on):
    TypeChannel.objects.filter(notification_type__key="financial_alert", channel="sms").update(
        global_rate_limit_per_minute=5
    )
    notification_types.invalidate()
    alerts = _alerts(8)
    result = queue_drain(queue=alerts[0].queue)
    assert result.sent == 5 and result.throttled == 3
    waiting = Notification.objects.filter(pk__in=[n.pk for n in alerts], status=Status.QUEUED)
    assert {n.decision_trace[-1]["reason"] for n in waiting} == {
        "financial_alert sms 5/min in all reached: waiting for room, not failing"
    }
