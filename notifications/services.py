"""Writes on the submit side: accept, validate, commit, then wake a worker.

Everything a request can get wrong is checked before a row exists (type, channel, recipient and its
contact point, template and its variables), and reported as InvalidInput naming the field. A row is
only ever committed whole, and its wake-up is published after the commit (see queueing.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import orjson
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from commhub import channels
from commhub.channels import MESSAGE
from commhub.errors import Conflict, InvalidInput, NotFound
from commhub.sql import row_insert, row_new, rows_insert
from commhub.tenancy import acting_organisation_id
from costs.budgets import budgets_apply
from costs.selectors import active_budgets
from costs.services import cost_estimate
from preferences.models import Recipient
from preferences.selectors import recipient_by_external_id, recipients_by_external_id
from preferences.services import recipient_upsert
from templates_app.models import Layout, Partial, Template
from templates_app.rendering import RenderError, build_context, render_version
from templates_app.selectors import LiveTemplate, template_for
from templates_app.services import version_create, version_publish
from templates_app.syntax import TemplateSyntaxProblem
from templates_app.variables import data_problems, infer_declarations, reads_recipient

from . import catalogue, lifecycle
from .constants import CANCELLABLE_STATUSES, Status
from .decision import DecisionContext, channels_asked, decide
from .digesting import digest_step, digests_gather
from .models import Notification, NotificationType, TypeChannel
from .queueing import kick_on_commit
from .selectors import notification_type_by_key, notification_types_capped, notification_types_digesting
from .status import status_initial, status_inserted, status_move
from .trace import trace_step

logger = logging.getLogger(__name__)


# --- the catalogue ------------------------------------------------------------------------------------


def catalogue_install() -> tuple[int, int]:
    """Create the default types, the default email layout and footer partial, and a published version 1 of
    each missing template. Never overwrites an existing one (staff edits stay)."""
    types_created = templates_created = 0
    with transaction.atomic():
        for spec in catalogue.TYPES:
            fields = {k: v for k, v in spec.items() if k not in ("key", "channels")}
            ntype, created = NotificationType.objects.get_or_create(key=spec["key"], defaults=fields)
            if created:
                TypeChannel.objects.bulk_create(
                    TypeChannel(notification_type=ntype, channel=channel, rate_limit_per_minute=limit)
                    for channel, limit in spec["channels"].items()
                )
            types_created += created
        for name, source in catalogue.PARTIALS.items():
            Partial.objects.get_or_create(name=name, defaults={"source": source})
        layout: dict[str, Any] = dict(catalogue.EMAIL_LAYOUT)
        if not Layout.objects.filter(channel=layout["channel"], is_default=True).exists():
            Layout.objects.get_or_create(name=layout.pop("name"), defaults=layout)
        types = {t.key: t for t in NotificationType.objects.filter(key__in=[s["key"] for s in catalogue.TYPES])}
        for (key, channel), template_source in catalogue.TEMPLATES.items():
            template, created = Template.objects.get_or_create(  # the shared defaults
                organisation=None, notification_type=types[key], channel=channel, locale="en"
            )
            if not created or template.versions.exists():
                continue
            parts = {
                "subject": template_source.get("subject", ""),
                "text": template_source.get("body", ""),
                "html": template_source.get("html", ""),
                **{
                    part: template_source[part]
                    for part in ("title", "action_url", "action_label")
                    if part in template_source
                },
            }
            version = version_create(
                template=template,
                actor="catalogue",
                note="catalogue default",
                variables=infer_declarations(parts.values(), catalogue.SAMPLES),
                **parts,
            )
            version_publish(version=version, actor="catalogue")
            templates_created += 1
    return types_created, templates_created


# --- submit -------------------------------------------------------------------------------------------


@dataclass
class SubmitRequest:
    """One notification to submit, as the API layer parsed it (names, not objects)."""

    recipient: str | Mapping[str, Any]  # external id, or an inline {external_id, email, phone, ...} upsert
    type: str
    data: Mapping[str, Any] = field(default_factory=dict)
    channel: str | None = None
    priority: int | None = None
    send_at: datetime | None = None
    cause: str = ""  # why it exists when the caller did not decide it (an event's rule): its trace's first step

    @cached_property
    def data_key(self) -> bytes | str:
        """The data as canonical JSON: a batch's memo keys on it (items with equal data share the work). orjson's
        bytes where it writes the document, json.dumps' text otherwise (the two never compare equal)."""
        try:
            return orjson.dumps(self.data, option=_CANONICAL)
        except TypeError:
            return json.dumps(self.data, sort_keys=True, default=str)


_CANONICAL = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _resolve_recipient(req: SubmitRequest, known: Mapping[str, Recipient] | None) -> Recipient:
    if isinstance(req.recipient, Mapping):
        fields = dict(req.recipient)
        external_id = fields.pop("external_id", None)
        if not external_id:
            raise InvalidInput({"recipient": {"external_id": ["This field is required."]}})
        try:
            recipient, _ = recipient_upsert(external_id=str(external_id), audited=False, **fields)
        except ValidationError as exc:
            raise InvalidInput({"recipient": exc.message_dict}) from exc
        return recipient
    external_id = str(req.recipient).strip()
    if not external_id:
        raise InvalidInput({"recipient": ["This field is required."]})
    found: Recipient | None = (known or {}).get(external_id)
    if found is None and known is None:
        found = recipient_by_external_id(external_id)
    if found is None:
        raise InvalidInput(
            {
                "recipient": [
                    f"Unknown recipient {external_id!r}: create it first with PUT /api/v1/recipients/{external_id}/."
                ]
            }
        )
    return found


def _active_type(req: SubmitRequest, context: DecisionContext) -> NotificationType:
    organisation = acting_organisation_id()  # the recipient's: it is looked up in this organisation
    key = ("type", organisation, req.type)
    if key not in context.memo:  # one snapshot read per type in a batch
        context.memo[key] = notification_type_by_key(req.type, organisation_id=organisation) if req.type else None
    ntype = context.memo[key]
    if ntype is None:
        raise InvalidInput({"type": [f"Unknown notification type {req.type!r}."]})
    if not ntype.is_active:
        raise InvalidInput({"type": [f"Notification type {ntype.key} is inactive."]})
    if req.data is None or not isinstance(req.data, Mapping):
        raise InvalidInput({"data": ["Must be a JSON object."]})
    return ntype


def _template_checked(
    req: SubmitRequest, ntype: NotificationType, recipient: Recipient, decision, context: DecisionContext
) -> LiveTemplate:
    """The live template for the decided channel, with every variable it needs in the request's data (checked
    once per version and data in a batch)."""
    channel = decision.channel
    memo = context.memo
    found = ("template", recipient.organisation_id, ntype.pk, channel, recipient.locale)
    if found not in memo:
        memo[found] = template_for(
            notification_type_id=ntype.pk,
            channel=channel,
            locale=recipient.locale,
            default_locale=ntype.default_locale,
            organisation_id=recipient.organisation_id,
        )
    live = memo[found]
    if live is None:
        raise InvalidInput({"type": [f"{ntype.key} has no published {channel} template."]})
    checked = ("data_problems", live.version.pk, req.data_key)
    if checked not in memo:
        try:
            memo[checked] = data_problems(live.version, req.data)
        except TemplateSyntaxProblem as exc:  # saved outside the admin's validation; staff must fix it
            raise InvalidInput({"type": [f"The {channel} template of {ntype.key} does not compile ({exc})."]}) from exc
    problems = memo[checked]
    if problems:
        raise InvalidInput({"data": problems})
    if not decision.refused:  # a refusal stays the trace's last word
        worded = ("template_reason", found)  # the same words for every item this template serves
        if worded not in memo:
            template = live.template
            fell_back = (
                ""
                if template.locale.lower() == (recipient.locale or "").lower()
                else (f", {template.locale} for the recipient's {recipient.locale or 'unknown locale'}")
            )
            memo[worded] = f"template #{template.pk} v{live.version.number}{fell_back} has every variable it needs"
        decision.trace.append(trace_step("template", "pass", memo[worded]))
    return live


def _priced(row: Notification, req: SubmitRequest, version, context: DecisionContext) -> None:
    """The estimated cost of the row. Where the text decides the price (SMS segments) it is rendered now; the
    worker renders again at send time, when the recipient's details may have changed."""
    spec = channels.get(row.channel)
    if spec.cost_unit != MESSAGE:
        row.segments = _units(row, req, version, context, spec)
    estimate = cost_estimate(
        channel=row.channel,
        segments=row.segments,
        to=row.to_address,
        at=row.send_at,
        organisation_id=row.organisation_id,
    )
    if estimate:
        row.cost, row.currency = estimate


def _units(row: Notification, req: SubmitRequest, version, context: DecisionContext, spec: Any) -> int:
    """The row's SMS segments. In a batch, a render is shared by the items with the same version and data, unless
    the template reads the recipient (asked only once a second recipient comes: a single send never asks)."""
    memo = context.memo
    shared = ("units", version.pk, req.data_key)
    first = memo.get(shared)  # (the recipient it was rendered for, its units)
    if first is not None:
        reads = memo.get(("reads_recipient", version.pk))
        if reads is None:
            reads = memo[("reads_recipient", version.pk)] = reads_recipient((version.text, version.html))
        if first[0] == row.recipient_id or not reads:
            return first[1]
    try:
        body = render_version(version, context=build_context(data=req.data, recipient=row.recipient)).body
    except RenderError as exc:
        raise InvalidInput({"data": [str(exc)]}) from exc
    units = spec.units(body)
    if first is None:
        memo[shared] = (row.recipient_id, units)
    return units


def notification_prepare(
    req: SubmitRequest,
    *,
    now: datetime,
    context: DecisionContext,
    known_recipients: Mapping[str, Recipient] | None = None,
    submitted_by=None,
) -> Notification:
    """Validate one request, run the decision engine and build its (unsaved) row: queued, scheduled
    (later, or deferred by quiet hours or a frequency cap) or suppressed (refused, with the reason).
    Raises InvalidInput naming the bad field; then nothing is stored."""
    ntype = _active_type(req, context)
    if ntype.digest and req.send_at is not None and req.send_at > now:
        raise InvalidInput({"send_at": [f"{ntype.key} digests its messages: they cannot be scheduled."]})
    recipient = _resolve_recipient(req, known_recipients)
    requested_send_at = req.send_at or now
    decision = decide(
        ntype=ntype,
        recipient=recipient,
        requested_channel=req.channel,
        send_at=requested_send_at,
        now=now,
        context=context,
    )
    if req.cause:
        decision.trace.insert(0, trace_step("cause", "pass", req.cause))
    live = _template_checked(req, ntype, recipient, decision, context)
    priority = req.priority or ntype.priority
    row: Notification = row_new(
        Notification,
        organisation_id=recipient.organisation_id,
        recipient=recipient,
        notification_type=ntype,
        channel=decision.channel,
        priority=priority,
        queue=Notification.queue_for(decision.channel, ntype.tier, priority),
        data=dict(req.data),
        decision_trace=decision.trace,
        template=live.template,
        template_version=live.version,
        to_address=decision.address,
        send_at=decision.send_at,
        # counted from when it is due (after every deliberate deferral), not from the submit
        expires_at=decision.send_at + timedelta(seconds=ntype.ttl_seconds) if ntype.ttl_seconds else None,
        max_attempts=ntype.max_retries + 1,
        submitted_by=submitted_by if getattr(submitted_by, "pk", None) else None,
        created_at=now,
    )
    if decision.refusal is not None:
        status_initial(row, to=Status.SUPPRESSED)
        row.last_error, row.error_code = decision.refusal.reason[:2000], decision.refusal.code[:64]
        return row
    if ntype.digest:  # checked like any message; its digest is decided and priced when the window closes
        status_initial(row, to=Status.DIGESTED, step=digest_step(ntype))
        row.send_at = now
        return row
    if decision.send_at > now:
        scheduled = trace_step("schedule", "defer", f"scheduled for {decision.send_at.isoformat()}")
        status_initial(row, to=Status.SCHEDULED, step=scheduled if decision.send_at == requested_send_at else None)
    else:
        status_initial(row, to=Status.QUEUED)
    _priced(row, req, live.version, context)
    # last: it reserves the estimate, so nothing after it may refuse the item
    budget = budgets_apply(row, active=context.budgets)
    if budget is not None and budget.refused:
        status_initial(row, to=Status.SUPPRESSED, step=trace_step("budget", "refuse", budget.reason))
        row.last_error, row.error_code = budget.reason[:2000], "budget"
        return row
    if budget is not None:
        row.decision_trace.append(trace_step("budget", "pass", budget.reason))
    context.accepted(recipient, ntype, decision)  # only now: every check that can refuse the item has run
    return row


def notification_submit(req: SubmitRequest, *, submitted_by=None) -> Notification:
    """Validate, commit one notification and (after commit) wake its queue's worker.

    When storing the row is the only write (no inline recipient to upsert, no frequency cap to lock, no budget
    to reserve against), its INSERT is the whole transaction: the reads before it need none, and BEGIN and
    COMMIT would cost two more round trips."""
    now = timezone.now()
    budgets = active_budgets.get()
    alone = (
        not budgets
        and not isinstance(req.recipient, Mapping)
        and req.type not in _capped_keys()
        and req.type not in _digesting_keys()  # its window is written with it
        and not lifecycle.listening()  # its events are written with it
    )
    with transaction.atomic() if not alone else contextlib.nullcontext():
        if not alone:
            _lock_for_frequency_cap([req])
        context = DecisionContext(budgets=budgets)
        notification = notification_prepare(req, now=now, context=context, submitted_by=submitted_by)
        row_insert(notification)
        status_inserted([notification])
        digests_gather([notification])
        if notification.status == Status.QUEUED:
            kick_on_commit([notification.queue])  # outside a transaction, at once: the INSERT has committed
    return notification


@dataclass
class BatchItemResult:
    index: int
    request: SubmitRequest
    notification: Notification | None = None
    errors: Any = None

    @property
    def ok(self) -> bool:
        return self.notification is not None


def notifications_submit_batch(items: Sequence[SubmitRequest], *, submitted_by=None) -> list[BatchItemResult]:
    """Submit many notifications at once; a bad item fails alone and the rest are committed together.

    Recipients are read in one query and the good rows written with one COPY; one wake-up per
    queue is published after the commit.
    """
    now = timezone.now()
    known = recipients_by_external_id(
        str(it.recipient).strip() for it in items if not isinstance(it.recipient, Mapping)
    )
    results: list[BatchItemResult] = []
    context = DecisionContext()
    with transaction.atomic():
        _lock_for_frequency_cap(items)
        context.preload(known.values(), on=_channels_asked(items))
        for index, req in enumerate(items):
            result = BatchItemResult(index=index, request=req)
            try:
                if isinstance(req.recipient, Mapping):
                    # an inline upsert writes; a savepoint undoes it if the item fails afterwards
                    with transaction.atomic():
                        result.notification = notification_prepare(
                            req, now=now, context=context, known_recipients=known, submitted_by=submitted_by
                        )
                else:
                    result.notification = notification_prepare(
                        req, now=now, context=context, known_recipients=known, submitted_by=submitted_by
                    )
            except InvalidInput as exc:
                result.errors = exc.errors
            results.append(result)
        accepted = [r.notification for r in results if r.notification is not None]
        rows_insert(Notification, accepted)
        status_inserted(accepted)
        digests_gather(accepted)
        kick_on_commit(n.queue for n in accepted if n.status == Status.QUEUED)
    return results


def _channels_asked(items: Sequence[SubmitRequest]) -> set[str]:
    """Every channel deciding these items may ask about: what a batch reads up front."""
    organisation = acting_organisation_id()
    asked: set[str] = set()
    for key, requested in {(it.type, it.channel) for it in items}:
        ntype = notification_type_by_key(key, organisation_id=organisation) if key else None
        if ntype is not None:
            asked.update(channels_asked(ntype, requested))
    return asked


def _capped_keys() -> set[str]:
    return {t.key for t in notification_types_capped()}


def _digesting_keys() -> set[str]:
    return {t.key for t in notification_types_digesting()}


def _lock_for_frequency_cap(items: Sequence[SubmitRequest]) -> None:
    """Two concurrent submits of a capped type for one recipient must not both see a free slot: lock those
    recipients' rows (in a stable order) until the transaction commits."""
    capped = _capped_keys()
    external_ids = sorted(
        {
            str(it.recipient.get("external_id") if isinstance(it.recipient, Mapping) else it.recipient).strip()
            for it in items
            if it.type in capped
        }
    )
    if external_ids:
        org = acting_organisation_id()
        list(
            Recipient.objects.select_for_update()
            .filter(organisation_id=org, external_id__in=external_ids)
            .order_by("pk")
        )


# --- cancel and retry ---------------------------------------------------------------------------------


def _locked(notification_id) -> Notification:
    try:
        return Notification.objects.select_for_update().get(pk=notification_id)
    except (Notification.DoesNotExist, ValidationError, ValueError) as exc:
        raise NotFound(f"No notification {notification_id}.") from exc


def _actor_name(actor) -> str:
    return getattr(actor, "get_username", lambda: str(actor))() if actor else "system"


def notification_cancel(*, notification_id, actor=None) -> Notification:
    """Cancel a notification that has not been handed to a provider yet. Cancelling twice is a no-op."""
    now = timezone.now()
    with transaction.atomic():
        notification = _locked(notification_id)
        if notification.status == Status.CANCELLED:
            return notification
        if notification.status not in CANCELLABLE_STATUSES:
            raise Conflict(f"Cannot cancel a notification that is {notification.status}.")
        before = {"status": notification.status}
        status_move(
            Notification.objects.filter(pk=notification.pk),
            to=Status.CANCELLED,
            sources=CANCELLABLE_STATUSES,
            now=now,
            step=trace_step("cancel", "stop", f"cancelled by {_actor_name(actor)}"),
            trace=notification.decision_trace,
        )
        notification.refresh_from_db()
        after = {"status": notification.status}  # as the status writer left it
        audit_record(action="notification.cancel", obj=notification, actor=actor, before=before, after=after)
    logger.info("notification %s cancelled by %s", notification_id, _actor_name(actor))
    return notification


def notification_retry(*, notification_id, actor=None) -> Notification:
    """Send a failed notification again: back to its queue with a fresh attempt budget."""
    now = timezone.now()
    with transaction.atomic():
        notification = _locked(notification_id)
        if notification.status != Status.FAILED:
            raise Conflict(f"Only failed notifications can be retried; this one is {notification.status}.")
        before = {
            "status": notification.status,
            "attempts": notification.attempts,
            "last_error": notification.last_error,
        }
        status_move(
            Notification.objects.filter(pk=notification.pk),
            to=Status.QUEUED,
            sources=[Status.FAILED],
            now=now,
            step=trace_step(
                "retry", "info", f"requeued by {_actor_name(actor)} after: {notification.last_error or 'failure'}"
            ),
            trace=notification.decision_trace,
            attempts=0,
            claims=0,
            send_at=now,
            failed_at=None,
            claim_token=None,
            lease_expires_at=None,
        )
        notification.refresh_from_db()
        after = {"status": notification.status, "attempts": notification.attempts, "send_at": notification.send_at}
        audit_record(action="notification.retry", obj=notification, actor=actor, before=before, after=after)
        kick_on_commit([notification.queue])
    logger.info("notification %s requeued by %s", notification_id, _actor_name(actor))
    return notification
