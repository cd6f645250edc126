"""One writer per state machine: every status change goes through notifications.status, which checks the
transition table, stamps the moment and appends the trace step; nothing else writes a notification's status."""

from __future__ import annotations

import ast
import itertools
import logging

import pytest
from django.utils import timezone

from notifications.constants import INITIAL_STATUSES, TRANSITIONS, Status
from notifications.models import Notification
from notifications.status import STAMPS, IllegalTransition, status_initial, status_move, status_sql
from notifications.trace import trace_step
from tests.conftest import ROOT
from tests.factories import submit

pytestmark = pytest.mark.django_db

PAIRS = list(itertools.product(Status.values, Status.values))
LEGAL = [(a, b) for a, b in PAIRS if b in TRANSITIONS[Status(a)]]
ILLEGAL = [(a, b) for a, b in PAIRS if b not in TRANSITIONS[Status(a)]]


@pytest.fixture
def row(catalogue, recipient):
    return submit()


def _put(row: Notification, status: str) -> None:
    Notification.objects.filter(pk=row.pk).update(status=status)  # test set-up, not the code under test


def test_the_table_has_the_transitions_the_pipeline_makes():
    assert len(LEGAL) == 28 and ("delivered", "queued") in ILLEGAL and ("sending", "sent") in LEGAL
    assert ("sending", "scheduled") in LEGAL  # held at send time until the send window opens
    # expiry: whatever waits (or is unknown, before the sweeper sends it again) may expire; nothing sent may
    assert {s for s, t in LEGAL if t == "expired"} == {"scheduled", "pending", "queued", "sending", "unknown"}


@pytest.mark.parametrize(("source", "target"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
def test_every_legal_transition_moves_stamps_and_explains(row, source, target):
    _put(row, source)
    now = timezone.now()
    step = trace_step("test", "move", f"{source} to {target}")
    moved = status_move(
        Notification.objects.filter(pk=row.pk),
        to=target,
        sources=[source],
        now=now,
        step=step,
        trace=row.decision_trace,
    )
    after = Notification.objects.get(pk=row.pk)
    assert moved == 1 and after.status == target
    assert after.decision_trace == [*row.decision_trace, step]
    if target in STAMPS:
        assert getattr(after, STAMPS[target]) == now


@pytest.mark.parametrize(("source", "target"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_every_illegal_transition_is_refused(row, source, target):
    _put(row, source)
    with pytest.raises(IllegalTransition, match=f"illegal status transition {source} -> {target}"):
        status_move(Notification.objects.filter(pk=row.pk), to=target, sources=[source], now=timezone.now())
    with pytest.raises(IllegalTransition):
        status_sql(to=target, sources=[source])
    assert Notification.objects.get(pk=row.pk).status == source


def test_in_production_an_illegal_transition_is_logged_and_nothing_moves(row, settings, caplog):
    settings.COMMHUB = {**settings.COMMHUB, "STATUS_STRICT": False}
    _put(row, Status.DELIVERED)
    with caplog.at_level(logging.ERROR, logger="notifications.status"):
        moved = status_move(
            Notification.objects.filter(pk=row.pk), to=Status.QUEUED, sources=[Status.DELIVERED], now=timezone.now()
        )
    assert moved == 0 and Notification.objects.get(pk=row.pk).status == Status.DELIVERED
    assert "illegal status transition delivered -> queued: refused" in caplog.text


def test_a_move_only_takes_rows_in_a_named_source_status(row):
    _put(row, Status.QUEUED)  # not failed: a retry must not requeue it again
    moved = status_move(
        Notification.objects.filter(pk=row.pk), to=Status.QUEUED, sources=[Status.FAILED], now=timezone.now()
    )
    assert moved == 0


@pytest.mark.parametrize("status", Status.values)
def test_a_new_row_starts_only_as_queued_scheduled_or_suppressed(status):
    row = Notification(decision_trace=[])
    if status in INITIAL_STATUSES:
        assert status_initial(row, to=status).status == status
    else:
        with pytest.raises(IllegalTransition):
            status_initial(row, to=status)


# --- nothing else writes a status ---------------------------------------------------------------------

# TemplateVersion has its own two-state machine (draft -> published), written only by version_publish.
OWN_STATE_MACHINES = {"templates_app/services.py"}


def _status_writes(path) -> list[str]:
    """`x.status = ...`, `.update(status=...)`/`.create(status=...)`, `{"status": Status.X}` handed to a write,
    and SQL that SETs "status"."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Attribute) and t.attr == "status" for t in targets):
                found.append(f"{where} assigns .status")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            writes = {"update", "create", "get_or_create", "update_or_create", "bulk_update"}
            if node.func.attr in writes and any(k.arg == "status" for k in node.keywords):
                found.append(f"{where} {node.func.attr}(status=...)")
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                is_status_key = isinstance(key, ast.Constant) and key.value == "status"
                if is_status_key and isinstance(value, ast.Attribute) and ast.unparse(value).startswith("Status."):
                    found.append(f"{where} {{'status': {ast.unparse(value)}}}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and 'SET "status"' in node.value:
            found.append(f"{where} SQL sets status")
    return found


def test_nothing_but_the_status_writer_writes_a_status():
    writes = []
    scanned = 0
    for app in ("commhub", "preferences", "costs", "templates_app", "notifications", "analytics"):
        for path in (ROOT / app).rglob("*.py"):
            relative = str(path.relative_to(ROOT))
            if "migrations" in path.parts or relative == "notifications/status.py" or relative in OWN_STATE_MACHINES:
                continue
            scanned += 1
            writes += _status_writes(path)
    assert scanned > 90 and not writes, writes


def test_the_scan_finds_each_kind_of_write(tmp_path):
    """The scan itself can fail: each way of writing a status is caught."""
    sample = ROOT / "tests" / "_status_write_sample.py"
    sample.write_text(
        "def f(n, qs, Status):\n"
        "    n.status = Status.SENT\n"
        "    qs.update(status=Status.QUEUED)\n"
        "    qs.update(**{'status': Status.FAILED})\n"
        "    return 'UPDATE x SET \"status\" = %s'\n"
    )
    try:
        assert len(_status_writes(sample)) == 4
    finally:
        sample.unlink()
