"""The send path, one module per stage, in the order a message meets them:

    claim.py         take a batch of ready rows (queued -> sending) under a lease; give back what is not sent
    drain.py         drain one queue: claim, feed the sender threads, stop at the time budget, an empty queue,
                     a rate limit or a more urgent queue (result.py: what it did)
    senders.py       the per-process pool of sender threads and their database connections
    batch.py         claimed bulk rows for one ESP batch call: expiry, re-check and send window for the group
      batch_merge.py     Mailgun's and SendGrid's form: one text with merge fields per template shape
      batch_messages.py  Postmark's form: complete messages, many per call
      batch_call.py      the call: the group's rate limits, its successes recorded in one statement
    send.py          one claimed row: re-check the person, render, call the provider within its rate limits
    outbound.py      the message a provider receives: the frozen template version rendered for the recipient
    outcomes.py      what happened, written once: sent, retrying, failed, unknown, suppressed
    group_commit.py  many success records in one statement and one commit (a drain's sends write behind)
    fallback.py      a message that failed for good, queued again on the type's fallback channel
    recovery.py      what nobody holds: due rows promoted, expired leases re-queued, poison failed, unknown
                     sends settled

The guarantees, and where each is kept:

* Claim before send (claim.py): two workers never hold the same row.
* Bounded unrecorded sends (outcomes.py, group_commit.py): a drain writes its successes COMMHUB_RECORD_BATCH
  at a time and never has more than two batches unwritten, so a worker process killed mid-drain leaves at most
  2 x COMMHUB_RECORD_BATCH + one send per sender thread unrecorded, and a recovered batch re-sends at most that
  many messages; with ESP batch sending (batch.py), one unrecorded ESP call per sender thread
  (COMMHUB_ESP_BATCH_SIZE messages).
* Give back what you cannot finish (drain.py): a drain stops at its time budget and returns its unsent
  claims, so a long batch never outlives its lease and higher tiers get the worker back quickly.
* Recover what was abandoned (recovery.py): expired leases are re-queued, lost wake-ups re-sent, poison
  failed instead of looping.
* Every status change goes through notifications.status (the one writer of the state machine).
"""

from .claim import notifications_claim
from .drain import DrainResult, queue_drain
from .fallback import fallback_create
from .outcomes import backoff_seconds
from .recovery import SweepResult, notifications_promote_due, sweep
from .send import notification_deliver
from .senders import shutdown_sender_pool

__all__ = [
    "DrainResult",
    "SweepResult",
    "backoff_seconds",
    "fallback_create",
    "notification_deliver",
    "notifications_claim",
    "notifications_promote_due",
    "queue_drain",
    "shutdown_sender_pool",
    "sweep",
]
