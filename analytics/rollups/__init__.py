"""Daily rollups: per day (the notification's submit day, UTC) x organisation x type x channel x provider x
currency, what happened to the notifications and what they cost.

In the order a notification's counts travel:
- contributions.py — what one notification counts as now (a function of its row, cost entry and events);
- fold.py — subtract what it was counted as (its mark), add what it counts as now, write the differences;
- incremental.py — the beat's pass: fold what changed since the watermark (cost follows the changes);
- rebuild.py — recount whole days from the rows (the first pass, the nightly proof, `manage.py rollups`);
- reconcile.py — compare with the cost ledger and name every difference.

Open days (the last COMMHUB_ROLLUP_DAYS) follow every change; a closed day's final counts stay as they were
(its notifications not final yet are still followed).
"""

from .incremental import Pass, rollups_fold
from .rebuild import day_bounds, rollups_build, rollups_recount
from .reconcile import Mismatch, rollups_reconcile

__all__ = ["Mismatch", "Pass", "day_bounds", "rollups_build", "rollups_fold", "rollups_reconcile", "rollups_recount"]
