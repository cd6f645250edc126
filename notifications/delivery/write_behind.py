"""Write-behind for the per-message path: a drain's senders hand their success records over and go on sending;
they are written (group_commit) COMMHUB_RECORD_BATCH at a time, or after COMMHUB_RECORD_WAIT_MS, and at the
drain's end. The crash bound follows: a process killed mid-drain leaves at most 2 x COMMHUB_RECORD_BATCH
records plus one send per sender thread unrecorded (sent again once the sweeper re-queues them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.db import DatabaseError

from .group_commit import SuccessRecord, success_records


class WriteBehind:
    """A drain's per-message successes, written `batch` at a time (one statement for many messages).

    A sender hands over its record and sends its next message at once; the sender whose record fills the
    batch writes it. A batch also goes when its oldest record is `max_age` seconds old (`due()`, asked before
    each take) and when the drain ends (`flush()`). While a batch is written the next one fills, and a sender
    whose record would overfill it waits: at most two batches of records are ever unwritten, so a process
    killed mid-drain leaves at most 2 x `batch` + one per sender thread (the sends in flight) unrecorded.
    `written(records, owned)` is told, per batch, which claims were still held; a batch that could not be
    written raises from the call that wrote it, with the records in `DatabaseLost.records`.
    """

    def __init__(self, *, batch: int, max_age: float, written: Callable[[list[SuccessRecord], list[bool]], None]):
        self._cond = threading.Condition()
        self._pending: list[SuccessRecord] = []
        self._oldest = 0.0
        self._writing = False
        self._batch, self._max_age, self._written = max(1, batch), max_age, written

    def add(self, r: SuccessRecord) -> None:
        with self._cond:
            self._cond.wait_for(lambda: len(self._pending) < self._batch or not self._writing)
            if len(self._pending) >= self._batch:  # a full batch waited for the writer: it goes, this one waits
                records = self._take()
                self._pending.append(r)
                self._oldest = time.monotonic()
            else:
                if not self._pending:
                    self._oldest = time.monotonic()
                self._pending.append(r)
                if len(self._pending) < self._batch or self._writing:
                    return
                records = self._take()
        self._write(records)

    def due(self) -> None:
        """Write the waiting records if the oldest has waited `max_age` (and nobody is writing)."""
        with self._cond:
            if not self._pending or self._writing or time.monotonic() - self._oldest < self._max_age:
                return
            records = self._take()
        self._write(records)

    def flush(self) -> None:
        """Write everything still waiting (the drain's end)."""
        with self._cond:
            self._cond.wait_for(lambda: not self._writing)
            if not self._pending:
                return
            records = self._take()
        self._write(records)

    def _take(self) -> list[SuccessRecord]:  # with the lock held
        records, self._pending, self._writing = self._pending, [], True
        return records

    def _write(self, records: list[SuccessRecord]) -> None:
        try:
            owned = success_records(records)
        except DatabaseError as exc:
            raise DatabaseLost(records) from exc
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()
        self._written(records, owned)


class DatabaseLost(DatabaseError):
    """Sent messages whose records could not be written (the connection broke twice)."""

    def __init__(self, records: list[SuccessRecord]) -> None:
        super().__init__(f"{len(records)} sent messages could not be recorded")
        self.records = records
