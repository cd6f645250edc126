"""What a drain did: the counts a worker logs and the reasons it stopped (drain.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from notifications.constants import Status

from .outcomes import RECORDING


@dataclass
class DrainResult:
    queue: str
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    suppressed: int = 0  # refused by the re-check just before sending (e.g. a STOP while it waited)
    deferred: int = 0  # held until the recipient's send window opens again (it waited past its end)
    expired: int = 0  # its time to live ran out before it could be sent (nothing sent)
    released: int = 0
    lost: int = 0  # rows whose claim another worker took over while we were sending (logged)
    yielded: bool = False  # stopped early because a more urgent queue had work
    urgent_queues: list[str] = field(default_factory=list)  # the queues it yielded to
    queue_empty: bool = False  # a claim found fewer ready rows than it asked for
    throttled: int = 0  # rows put back because a rate limit had no room (they wait; nothing failed)
    database_lost: bool = False  # stopped because the database connection broke (a fresh drain reconnects)
    sender_blocked: bool = False  # stopped because no sender of the channel had room
    wake_in: float | None = None  # seconds until the earliest limit that held rows back has room again

    @property
    def more_may_wait(self) -> bool:  # (a drain that lost its database gave rows back: released > 0)
        """Stopped for a reason other than an empty queue (time budget, limit, yield): wake it again now.
        (Rows held back by a rate limit are woken after `wake_in` instead.)"""
        if self.sender_blocked:
            return False
        return self.released > 0 or self.yielded or not self.queue_empty

    def throttled_for(self, wait: float) -> None:
        self.throttled += 1
        self.wake_in = wait if self.wake_in is None else min(self.wake_in, wait)

    def tally(self, outcome: str) -> None:
        if outcome == Status.SENT:
            self.sent += 1
        elif outcome == Status.PENDING:
            self.retrying += 1
        elif outcome == Status.FAILED:
            self.failed += 1
        elif outcome == Status.SUPPRESSED:
            self.suppressed += 1
        elif outcome == Status.SCHEDULED:
            self.deferred += 1
        elif outcome == Status.EXPIRED:
            self.expired += 1
        elif outcome in ("released", RECORDING):
            pass  # given back to the queue (counted in `released`), or counted once its record is written
        else:
            self.lost += 1
