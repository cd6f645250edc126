"""commhub's own knobs. Code reads them typed, through `commhub.conf.knobs()`; this dict is the raw form
(tests override it as `settings.COMMHUB = {**settings.COMMHUB, "KEY": value}`)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from commhub.conf import parse_rate

from .base import DEBUG, env
from .broker import CELERY_BROKER_URL
from .database import DATABASES

# The channels: dotted paths of the modules that declare them (see commhub.channels). Their order is the order
# a worker serves a tier's queues in (SMS before email). Adding a channel is adding its module here.
COMMHUB_CHANNELS = env.list(
    "COMMHUB_CHANNELS",
    default=[
        "notifications.channels.sms",
        "notifications.channels.email",
        "inbox.in_app",
        "push.push",
        "hooks.webhook",
    ],
)

# The broker's Redis, when the broker is Redis: the default for what else wants one (rate limits, inbox streams).
_BROKER_REDIS = CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""

COMMHUB = {
    # How long a worker owns a claimed row; the sweeper re-queues rows whose lease ran out.
    "LEASE_SECONDS": env.int("COMMHUB_LEASE_SECONDS", default=120),
    # Rows claimed per drain task; each row is still sent and recorded one at a time.
    "DRAIN_BATCH_SIZE": env.int("COMMHUB_DRAIN_BATCH_SIZE", default=50),
    # Sender threads per drain: they overlap database commits with provider round trips. SQLite has one
    # writer at a time, so more than one buys nothing there.
    "DRAIN_THREADS": env.int(
        "COMMHUB_DRAIN_THREADS", default=1 if DATABASES["default"]["ENGINE"].endswith("sqlite3") else 8
    ),
    # A drain's successes are written this many at a time (one statement), or once the oldest has waited
    # RECORD_WAIT_MS; also the crash bound: at most 2 x RECORD_BATCH + DRAIN_THREADS sends unrecorded per process.
    "RECORD_BATCH": env.int("COMMHUB_RECORD_BATCH", default=32),
    "RECORD_WAIT_MS": env.float("COMMHUB_RECORD_WAIT_MS", default=20.0),
    # A drain task hands its queue back to the broker after this long so higher tiers get a turn.
    "DRAIN_TIME_BUDGET_SECONDS": env.float("COMMHUB_DRAIN_TIME_BUDGET_SECONDS", default=5.0),
    # ESP batch sending: bulk-tier email (these queue tiers) goes to an ESP whose API takes many recipients
    # per call (Mailgun) in groups of up to ESP_BATCH_SIZE messages that share a template version, each
    # recipient with their own merge values, headers and provider id. 0 switches it off. Transactional and
    # critical tiers always send one message per call (lowest latency).
    "ESP_BATCH_SIZE": env.int("COMMHUB_ESP_BATCH_SIZE", default=500),
    "ESP_BATCH_TIERS": env.list("COMMHUB_ESP_BATCH_TIERS", default=["reports", "education"]),
    # A web process publishes the wake-ups its commits ask for from one thread: those that arrive within this
    # many milliseconds of the last publish share the next one (every commit is still followed by a wake-up).
    # At ~100 sends a second per process a 5 ms window rarely shares a publish; 20 ms delays one by at most that.
    "WAKEUP_COALESCE_MS": env.float("COMMHUB_WAKEUP_COALESCE_MS", default=20.0),
    # Largest accepted batch request.
    "BATCH_MAX_ITEMS": env.int("COMMHUB_BATCH_MAX_ITEMS", default=1000),
    # Beat intervals for the due-row dispatcher and the sweeper.
    "DISPATCH_DUE_INTERVAL_SECONDS": env.int("COMMHUB_DISPATCH_DUE_INTERVAL", default=5),
    "SWEEP_INTERVAL_SECONDS": env.int("COMMHUB_SWEEP_INTERVAL", default=30),
    # Queued rows untouched this long get their queue kicked again (the broker may have lost the kick).
    "STALE_QUEUED_SECONDS": env.int("COMMHUB_STALE_QUEUED_SECONDS", default=60),
    # Retry delays up to this long are also kicked with a Celery countdown (well under the broker's
    # visibility timeout); longer ones wait for the beat dispatcher.
    "RETRY_COUNTDOWN_MAX_SECONDS": env.int("COMMHUB_RETRY_COUNTDOWN_MAX", default=300),
    # An illegal status transition (e.g. delivered -> queued) raises when this is on (tests, development) and
    # is refused with an error in the log when it is off (production: one bad write must not stop a drain).
    "STATUS_STRICT": env.bool("COMMHUB_STATUS_STRICT", default=False),
    # How many times a row may be claimed without finishing before it is declared poison.
    "MAX_CLAIMS": env.int("COMMHUB_MAX_CLAIMS", default=5),
    # Seconds an API client's permission set is cached per process (a revocation applies within it).
    "PERMISSION_CACHE_SECONDS": env.int("COMMHUB_PERMISSION_CACHE_SECONDS", default=30),
    # Seconds the in-process type/template/pricing caches may lag an edit made in another process.
    "CATALOGUE_CACHE_SECONDS": env.float("COMMHUB_CATALOGUE_CACHE_SECONDS", default=5.0),
    # Quiet hours: the local-time window in which types that respect quiet hours may be sent (TCPA: 08-21),
    # unless the recipient set a window of their own; the channels it applies to; and the zones assumed
    # (all must agree) when a recipient's zone is unknown.
    "SEND_WINDOW_START": env.str("COMMHUB_SEND_WINDOW_START", default="08:00"),
    "SEND_WINDOW_END": env.str("COMMHUB_SEND_WINDOW_END", default="21:00"),
    # Blank: each channel's spec says whether quiet hours apply to it (SMS yes, email no).
    "QUIET_HOURS_CHANNELS": env.list("COMMHUB_QUIET_HOURS_CHANNELS", default=None),
    "UNKNOWN_TIMEZONES": env.list("COMMHUB_UNKNOWN_TIMEZONES", default=["America/New_York", "America/Los_Angeles"]),
    # The reply to an SMS "HELP" (carriers require one).
    "SMS_HELP_REPLY": env.str(
        "COMMHUB_SMS_HELP_REPLY",
        default="commhub alerts: reply STOP to unsubscribe, START to resubscribe. Msg&data rates may apply.",
    ),
    # Provider failover: consecutive failures that open a provider's circuit, and how long it stays open
    # before one send probes it again.
    "BREAKER_FAILURES": env.int("COMMHUB_BREAKER_FAILURES", default=3),
    "BREAKER_OPEN_SECONDS": env.float("COMMHUB_BREAKER_OPEN_SECONDS", default=30.0),
    # anymail's ESP calls go through a lean urllib3 session (notifications/channels/http.py) instead of a
    # `requests` session: the same wire request, ~15 % less CPU per email sent one per call. Off: `requests`.
    "LEAN_HTTP": env.bool("COMMHUB_LEAN_HTTP", default=True),
    # Rate limits, shared by every worker on every host: in Redis when this names one (default: the broker,
    # when the broker is Redis), else in the database. The catalogue's per type x channel limits can be
    # switched off (e.g. for a benchmark); senders are paced in units (messages; SMS segments) per second,
    # e.g. "twilio:+15005550006=1,twilio:+18005550100=3,mailgun=100". A critical message may go ahead of
    # this many units of bulk work on its sender; a wait up to RATE_WAIT_INLINE_SECONDS is slept in the
    # sender thread, a longer one puts the row back in its queue until the limit has room.
    "RATE_LIMIT_REDIS_URL": env.str(
        "COMMHUB_RATE_LIMIT_REDIS_URL",
        default=_BROKER_REDIS,
    ),
    # In-app inbox streams: the Redis whose pub/sub wakes a person's open streams on every web node (blank: the
    # streams look for new events in the database twice a second, as in the embedded mode).
    "REALTIME_REDIS_URL": env.str(
        "COMMHUB_REALTIME_REDIS_URL",
        default=_BROKER_REDIS,
    ),
    # An inbox stream ends after this long; its client reconnects with its last event id and misses nothing.
    "STREAM_MAX_SECONDS": env.float("COMMHUB_STREAM_MAX_SECONDS", default=1800.0),
    # /inbox/demo/: a page with the inbox widget for a demo user (it mints end-user tokens: development only).
    "INBOX_DEMO": env.bool("COMMHUB_INBOX_DEMO", default=DEBUG),
    # The inbox streams' event log (what a reconnecting client catches up from) is kept this many days.
    "INBOX_EVENT_RETENTION_DAYS": env.int("COMMHUB_INBOX_EVENT_RETENTION_DAYS", default=7),
    "TYPE_RATE_LIMITS": env.bool("COMMHUB_TYPE_RATE_LIMITS", default=True),
    "SENDER_RATES": env.dict("COMMHUB_SENDER_RATES", cast={"value": float}, default={}),
    "RATE_CRITICAL_HEADROOM": env.int("COMMHUB_RATE_CRITICAL_HEADROOM", default=5),
    "RATE_WAIT_INLINE_SECONDS": env.float("COMMHUB_RATE_WAIT_INLINE_SECONDS", default=1.0),
    # Rollups: every ROLLUP_INTERVAL seconds the incremental pass folds the notifications changed since its
    # last pass (looking ROLLUP_OVERLAP seconds further back, for transactions that committed late) into the
    # rollups of the last ROLLUP_DAYS days (the open days; older ones are closed: final counts stay as they
    # were), and corrects budget spend to the ledger. Every ROLLUP_RECOUNT_INTERVAL seconds (daily) the open
    # days are recounted from the rows, and any difference from the increments is logged.
    "ROLLUP_DAYS": env.int("COMMHUB_ROLLUP_DAYS", default=3),
    "ROLLUP_INTERVAL_SECONDS": env.int("COMMHUB_ROLLUP_INTERVAL", default=60),
    "ROLLUP_OVERLAP_SECONDS": env.int("COMMHUB_ROLLUP_OVERLAP", default=300),
    "ROLLUP_RECOUNT_INTERVAL_SECONDS": env.int("COMMHUB_ROLLUP_RECOUNT_INTERVAL", default=86400),
    "QUEUE_SAMPLE_INTERVAL_SECONDS": env.int("COMMHUB_QUEUE_SAMPLE_INTERVAL", default=60),
    "RETENTION_PURGE_INTERVAL_SECONDS": env.int("COMMHUB_RETENTION_PURGE_INTERVAL", default=3600),
    # beat's pass over the lifecycle-event outbox (new events are sent at once after their commit; this pass
    # catches retries and any wake-up the broker lost)
    "EVENTS_DELIVER_INTERVAL_SECONDS": env.int("COMMHUB_EVENTS_DELIVER_INTERVAL", default=10),
    # beat's passes over the calls: reminders due, calls missed
    "CALLS_INTERVAL_SECONDS": env.int("COMMHUB_CALLS_INTERVAL", default=60),
    # How often beat sends the digests whose window has closed (a digest goes at most this late).
    "DIGEST_INTERVAL_SECONDS": env.int("COMMHUB_DIGEST_INTERVAL", default=60),
    # How often beat resumes running broadcasts (a fan-out left half-way by a worker that died goes on then).
    "BROADCAST_INTERVAL_SECONDS": env.int("COMMHUB_BROADCAST_INTERVAL", default=15),
    # A dry run of an audience this size or smaller runs in the request (its counts show at once); larger ones
    # run on a worker.
    "BROADCAST_INLINE_DRY_RUN": env.int("COMMHUB_BROADCAST_INLINE_DRY_RUN", default=5000),
    # Retention of queue-depth samples and of captured (embedded-mode) messages.
    "SAMPLE_RETENTION_DAYS": env.int("COMMHUB_SAMPLE_RETENTION_DAYS", default=14),
    "CAPTURE_RETENTION_DAYS": env.int("COMMHUB_CAPTURE_RETENTION_DAYS", default=30),
    # Who hears about a crossed alert budget (recipient external ids; "staff" is created with STAFF_EMAIL).
    "BUDGET_ALERT_RECIPIENTS": env.list("COMMHUB_BUDGET_ALERT_RECIPIENTS", default=["staff"]),
    "STAFF_EMAIL": env.str("COMMHUB_STAFF_EMAIL", default="ops@commhub.localhost"),
    # /metrics reads its database gauges at most this often; workers report a heartbeat this often, and
    # /health calls the workers down when none reported within HEARTBEAT_STALE_SECONDS.
    "METRICS_CACHE_SECONDS": env.float("COMMHUB_METRICS_CACHE_SECONDS", default=10.0),
    "HEARTBEAT_SECONDS": env.float("COMMHUB_HEARTBEAT_SECONDS", default=10.0),
    "HEARTBEAT_STALE_SECONDS": env.float("COMMHUB_HEARTBEAT_STALE_SECONDS", default=60.0),
    # A worker returns freed heap pages to the OS after a drain at most this often (glibc's malloc_trim; 0: never).
    "MALLOC_TRIM_SECONDS": env.float("COMMHUB_MALLOC_TRIM_SECONDS", default=1.0),
    # How long an `unknown` send (timed out after the request went out) waits for the provider's callback
    # before the sweeper sends it once more.
    "UNKNOWN_SETTLE_SECONDS": env.int("COMMHUB_UNKNOWN_SETTLE_SECONDS", default=3600),
    # A finished notification's words and personal data are purged after this many days (a type's own
    # retention_days wins); 0: kept. Statuses, counts, rollups and the ledgers always stay.
    "RETENTION_DAYS": env.int("COMMHUB_RETENTION_DAYS", default=0),
    # A local-time recurring send's hourly runs missed while beat was down are made up (flagged late) when they
    # are at most this old; older ones are recorded as missed.
    "RECURRING_GRACE_HOURS": env.float("COMMHUB_RECURRING_GRACE_HOURS", default=2.0),
    # How long an Idempotency-Key (and the response it replays) is kept.
    "IDEMPOTENCY_TTL_HOURS": env.int("COMMHUB_IDEMPOTENCY_TTL_HOURS", default=24),
    # Every template render stops past this many seconds or this many characters of output (a staff-written
    # template cannot hang a worker or fill its memory).
    "TEMPLATE_RENDER_SECONDS": env.float("COMMHUB_TEMPLATE_RENDER_SECONDS", default=1.0),
    "TEMPLATE_MAX_OUTPUT_CHARS": env.int("COMMHUB_TEMPLATE_MAX_OUTPUT_CHARS", default=500_000),
    # The mailto: half of List-Unsubscribe (blank: unsubscribe@ the sender's domain).
    "UNSUBSCRIBE_MAILTO": env.str("COMMHUB_UNSUBSCRIBE_MAILTO", default=""),
    # API throttles ("<n>/<s|min|hour|day>", blank: off), shared by every web process through the rate-limit
    # store (Redis, else the database): notifications a client may submit (a batch counts its items), other
    # API requests per client, per end user on /me/, and per address for anonymous requests and token logins.
    "THROTTLE_SENDS": env.str("COMMHUB_THROTTLE_SENDS", default="1000000/min"),
    # ... and all of one organisation's clients together (one tenant cannot take the whole hub)
    "THROTTLE_ORGANISATION_SENDS": env.str("COMMHUB_THROTTLE_ORGANISATION_SENDS", default="2000000/min"),
    "THROTTLE_CLIENT": env.str("COMMHUB_THROTTLE_CLIENT", default="6000/min"),
    "THROTTLE_END_USER": env.str("COMMHUB_THROTTLE_END_USER", default="120/min"),
    "THROTTLE_ANON": env.str("COMMHUB_THROTTLE_ANON", default="300/min"),
    "THROTTLE_LOGIN": env.str("COMMHUB_THROTTLE_LOGIN", default="60/min"),
}

for _name in (
    "THROTTLE_SENDS",
    "THROTTLE_ORGANISATION_SENDS",
    "THROTTLE_CLIENT",
    "THROTTLE_END_USER",
    "THROTTLE_ANON",
    "THROTTLE_LOGIN",
):
    try:
        parse_rate(COMMHUB[_name])
    except ValueError as _exc:
        raise ImproperlyConfigured(f"COMMHUB_{_name}: {_exc}") from None
