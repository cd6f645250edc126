"""Rate limits shared by every worker on every host: the catalogue's per type x channel limits, which protect a
person (at most N of a type a minute to one recipient), an optional cap per type x channel across everyone, and
each sender's pace (what protects a provider and governs throughput).

Each limit is a GCRA bucket (the "virtual scheduling" form of a token bucket): one stored number per key,
the theoretical arrival time (TAT) of the next unit. A request for `units` at time `now` is allowed when

    max(TAT, now) + units * interval - (max(burst, units) + headroom) * interval <= now

and then moves TAT forward by `units * interval`. `headroom` lets critical work go ahead of bulk work that
shares a sender: bulk fills the bucket only up to its burst, critical may borrow a few more units, so a
backlog of newsletters never makes a fraud alert wait for the newsletters' turn.

One request may name several limits that must all allow it (`common`: the type's limits) and a list of
senders of which the first with room is taken (`choices`: a failover chain's senders). It is decided
atomically: in one Lua script on Redis, or in one transaction on the database (the embedded mode, and any
deployment without Redis). Nothing is consumed when the answer is no.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.db import transaction

from commhub.conf import knobs

from .models import RateLimitState

PERSON_PREFIX = "person:"


@dataclass(frozen=True)
class Rate:
    """`per_second` units (messages, or SMS segments) per second on `key`, `burst` of them at once."""

    key: str
    per_second: float
    label: str
    burst: int = 1
    headroom: int = 0  # extra units a critical message may borrow ahead of bulk work
    units: int | None = None  # what this limit counts for any request (a person's limit: 1 message), else its units

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second

    def with_headroom(self, units: int) -> Rate:
        return Rate(self.key, self.per_second, self.label, self.burst, units, self.units)

    @property
    def per_person(self) -> bool:
        return self.key.startswith(PERSON_PREFIX)


@dataclass(frozen=True)
class Grant:
    allowed: bool
    choice: int | None = None  # index into `choices` of the sender that was granted
    wait: float = 0.0  # seconds until the refusing limit has room again
    blocked_by: Rate | None = None


class Throttled(Exception):
    """Over a rate limit: the message waits (the row goes back to the queue), it has not failed."""

    def __init__(self, rate: Rate, wait: float) -> None:
        super().__init__(f"{rate.label} reached; room again in {wait:.2f}s")
        self.rate = rate
        self.wait = wait


def _decide(tats: list[float], rates: list[Rate], units: int, now: float) -> tuple[float, list[float]]:
    """(seconds to wait, 0 if allowed; the new TATs) for one all-or-nothing request on `rates`."""
    wait, new = 0.0, []
    asked = units
    for tat, rate in zip(tats, rates, strict=True):
        units = rate.units or asked
        start = max(tat, now)
        new_tat = start + units * rate.interval
        allow_at = new_tat - (max(rate.burst, units) + rate.headroom) * rate.interval
        wait = max(wait, allow_at - now)
        new.append(new_tat)
    return wait, new


class DatabaseLimiter:
    """State in the RateLimitState table, decided in one transaction (SQLite serialises writers; PostgreSQL
    locks the rows)."""

    def acquire(self, *, common: list[Rate], choices: list[Rate], units: int) -> Grant:
        keys = [r.key for r in (*common, *choices)]
        now = time.time()
        locked = RateLimitState.objects.select_for_update().filter(key__in=keys).order_by("key")
        with transaction.atomic():
            state = dict(locked.values_list("key", "tat"))
            if len(state) < len(set(keys)):  # a bucket's first use
                RateLimitState.objects.bulk_create(
                    [RateLimitState(key=k, tat=0.0) for k in keys if k not in state], ignore_conflicts=True
                )
                state = dict(locked.values_list("key", "tat"))
            wait, common_tats = _decide([state[r.key] for r in common], common, units, now)
            if wait > 0:
                return Grant(False, wait=wait, blocked_by=_blocking(common, [state[r.key] for r in common], units, now))
            granted = None
            best_wait = None
            for index, rate in enumerate(choices):
                choice_wait, (choice_tat,) = _decide([state[rate.key]], [rate], units, now)
                if choice_wait <= 0:
                    granted = (index, choice_tat)
                    break
                best_wait = choice_wait if best_wait is None else min(best_wait, choice_wait)
            if choices and granted is None:
                return Grant(False, wait=best_wait or 0.0, blocked_by=choices[0])
            updates = list(zip([r.key for r in common], common_tats, strict=True))
            if granted is not None:
                updates.append((choices[granted[0]].key, granted[1]))
            for key, tat in updates:
                RateLimitState.objects.filter(key=key).update(tat=tat)
        return Grant(True, choice=granted[0] if granted else None)


def _blocking(rates: list[Rate], tats: list[float], units: int, now: float) -> Rate:
    """The limit that refuses longest."""
    waits = [_decide([tat], [rate], units, now)[0] for tat, rate in zip(tats, rates, strict=True)]
    return rates[waits.index(max(waits))]


# KEYS: the common keys, then the choice keys. ARGV: ncommon, units, then per key interval, burst, headroom and
# its own units (0: the request's).
# Time comes from the Redis server, so hosts with drifting clocks still share one schedule.
_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ncommon = tonumber(ARGV[1])
local units = tonumber(ARGV[2])
local function decide(i)
  local interval = tonumber(ARGV[3 + (i - 1) * 4])
  local burst = tonumber(ARGV[4 + (i - 1) * 4])
  local headroom = tonumber(ARGV[5 + (i - 1) * 4])
  local own = tonumber(ARGV[6 + (i - 1) * 4])
  local n = units
  if own > 0 then n = own end
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  local new_tat = tat + n * interval
  local allow_at = new_tat - (math.max(burst, n) + headroom) * interval
  return allow_at - now, new_tat
end
local function store(i, new_tat)
  redis.call('SET', KEYS[i], string.format('%.6f', new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
end
local worst, worst_i = 0, 0
local new_tats = {}
for i = 1, ncommon do
  local wait, new_tat = decide(i)
  new_tats[i] = new_tat
  if wait > worst then worst, worst_i = wait, i end
end
if worst > 0 then return {0, -1, tostring(worst), worst_i} end
local chosen, best, best_i = -1, -1, 0
for i = ncommon + 1, #KEYS do
  local wait, new_tat = decide(i)
  if wait <= 0 then chosen = i; new_tats[i] = new_tat; break end
  if best < 0 or wait < best then best, best_i = wait, i end
end
if #KEYS > ncommon and chosen < 0 then return {0, -1, tostring(best), best_i} end
for i = 1, ncommon do store(i, new_tats[i]) end
if chosen > 0 then store(chosen, new_tats[chosen]) end
return {1, chosen - ncommon - 1, '0', 0}
"""


class RedisLimiter:
    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self.script = self.client.register_script(_LUA)

    def acquire(self, *, common: list[Rate], choices: list[Rate], units: int) -> Grant:
        rates = [*common, *choices]
        args: list = [len(common), units]
        for rate in rates:
            args += [repr(rate.interval), rate.burst, rate.headroom, rate.units or 0]
        allowed, choice, wait, blocked = self.script(keys=[f"commhub:rate:{r.key}" for r in rates], args=args)
        if allowed:
            return Grant(True, choice=choice if choices else None)
        return Grant(False, wait=float(wait), blocked_by=rates[int(blocked) - 1])


_limiter: tuple[str, DatabaseLimiter | RedisLimiter] | None = None
_limiter_lock = threading.Lock()


def limiter() -> DatabaseLimiter | RedisLimiter:
    """The limiter the settings name (Redis when COMMHUB_RATE_LIMIT_REDIS_URL is set, else the database)."""
    global _limiter
    url = knobs().rate_limit_redis_url
    with _limiter_lock:
        if _limiter is None or _limiter[0] != url:
            _limiter = (url, RedisLimiter(url) if url else DatabaseLimiter())
        return _limiter[1]


def _per_minute(
    ntype, channel: str, per_minute: int | None, *, key: str, scope: str, units: int | None = None
) -> Rate | None:
    """A bucket of one minute's worth: up to `per_minute` at once, refilled at `per_minute` a minute (None when the
    catalogue's limits are off or there is no limit)."""
    if not knobs().type_rate_limits or not per_minute or per_minute <= 0:
        return None
    label = f"{ntype.key} {channel} {per_minute}/min {scope}"
    return Rate(key=key, per_second=per_minute / 60, label=label, burst=per_minute, units=units)


def person_rate(ntype, channel: str, recipient_id: int) -> Rate | None:
    """The catalogue's per-minute limit for `ntype` on `channel` to one recipient (one message each)."""
    key = f"{PERSON_PREFIX}{recipient_id}:{ntype.pk}:{channel}"
    return _per_minute(ntype, channel, ntype.rate_limit_for(channel), key=key, scope="per recipient", units=1)


def type_cap(ntype, channel: str) -> Rate | None:
    """The optional cap on `ntype` x `channel` across every recipient and worker (None: blank, the default)."""
    key = f"type:{ntype.pk}:{channel}"
    return _per_minute(ntype, channel, ntype.global_rate_limit_for(channel), key=key, scope="in all")


def type_limits(ntype, channel: str, recipient_id: int) -> list[Rate]:
    """The limits a message of `ntype` on `channel` to this recipient must fit in (its person's, the type's cap)."""
    return [r for r in (person_rate(ntype, channel, recipient_id), type_cap(ntype, channel)) if r is not None]


def sender_rate(sender: str, *, critical: bool) -> Rate | None:
    """The pace of one sender (COMMHUB_SENDER_RATES: units per second, e.g. twilio:+15005550006=1)."""
    per_second = knobs().sender_rates.get(sender)
    if not per_second:
        return None
    burst = 1  # evenly spaced: a provider's cap is per second, a burst would overshoot it
    headroom = knobs().rate_critical_headroom if critical else 0
    return Rate(
        key=f"sender:{sender}",
        per_second=per_second,
        label=f"sender {sender} {per_second:g}/s",
        burst=burst,
        headroom=headroom,
    )


def reset_rate_limits() -> None:
    """Forget every bucket (tests, and `manage.py` after changing limits drastically)."""
    RateLimitState.objects.all().delete()
    store = limiter()
    if isinstance(store, RedisLimiter):
        client = store.client
        keys = list(client.scan_iter("commhub:rate:*", count=1000))
        if keys:
            client.delete(*keys)
