"""The checks that can stop a message because of the person: suppression, consent, preference.

One entry point, `person_checks` (and `person_refusals` when only the refusals matter), answers any number
of questions "may this person be contacted on this channel about this type?" at once. The submit path asks
it for every item of a request, the send path asks it again just before the provider call (each check can
change while a message waits), and the end-user API asks it to explain a person's effective preferences.

Underneath are pure functions over PolicyFacts (read in bulk by preferences.selectors.policy_facts), each
returning a verdict with a reason a newcomer can read in the decision trace; and, for a single question, a
one-statement fast path (preferences.selectors.policy_quick) whose passing verdicts read exactly the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from commhub import channels
from commhub.tenancy import DEFAULT_ORGANISATION_ID

from .constants import MARKETING, PreferencePolicy
from .models import ConsentAction, ConsentSource, Preference, SuppressionReason
from .selectors import PolicyFacts, QuickPolicy, policy_facts, policy_quick

PASS = "pass"  # noqa: S105 (an outcome, not a password)
REFUSE = "refuse"

_SUPPRESSION_VERB: dict[str, str] = {
    SuppressionReason.STOP: "replied STOP",
    SuppressionReason.BOUNCE: "hard-bounced",
    SuppressionReason.COMPLAINT: "reported a message as spam",
    SuppressionReason.UNSUBSCRIBE: "unsubscribed at the provider",
    SuppressionReason.INVALID: "was refused by the provider as invalid",
    SuppressionReason.MANUAL: "was blocked by staff",
}


class Verdict(NamedTuple):
    """One check's answer. Immutable like a frozen dataclass, built like a tuple: a batch submit builds three per
    item (a frozen dataclass sets each field through object.__setattr__)."""

    check: str
    outcome: str  # pass / refuse
    reason: str
    code: str = ""  # machine-readable refusal code (error_code on the notification)

    @property
    def refused(self) -> bool:
        return self.outcome == REFUSE


def mask_address(address: str) -> str:
    """Enough of an address to recognise it in a trace, not enough to harvest it: +14155…23, d…@example.com."""
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}…@{domain}"
    if len(address) > 8:
        return f"{address[:6]}…{address[-2:]}"
    return address


def when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def address_key(channel: str, address: str) -> str:
    """How the suppression list spells an address (the channel's spec decides: emails in lower case)."""
    return channels.get(channel).address_key(address)


def _address_word(channel: str) -> str:
    return channels.get(channel).address_word


def _not_suppressed(channel: str, address: str) -> Verdict:
    return Verdict("suppression", PASS, f"{_address_word(channel)} {mask_address(address)} is not suppressed")


def check_suppression(facts: PolicyFacts, *, organisation_id: int | None, channel: str, address: str) -> Verdict:
    s = facts.suppressions.get((organisation_id, channel, address_key(channel, address)))
    if s is None:
        return _not_suppressed(channel, address)
    verb = _SUPPRESSION_VERB.get(s.reason, s.reason)
    detail = f" ({s.detail})" if s.detail else ""
    who = f"{_address_word(channel)} {mask_address(address)}"
    return Verdict(
        "suppression",
        REFUSE,
        f"suppressed: {who} {verb} at {when(s.created_at)}{detail}",
        code=f"suppressed_{s.reason}",
    )


_SOURCES = frozenset(ConsentSource.values)  # (`.values` builds a list on every read)


def _source_label(source: str) -> str:
    return ConsentSource(source).label.lower() if source in _SOURCES else source


def _consent_verdict(
    *, action: str | None, at: datetime | None, source: str, channel: str, purpose: str, category: str
):
    """Marketing needs a standing grant; transactional messages need none but honour a withdrawal. `action`,
    `at` and `source` describe the latest applicable ledger entry (None: there is none)."""
    scope = f"{purpose} {channel}" + (f" ({category})" if category else "")
    if action is None:
        if purpose == MARKETING:
            return Verdict("consent", REFUSE, f"no consent for {scope}: never granted", code="no_consent")
        return Verdict("consent", PASS, f"{scope}: no consent needed and none withdrawn")
    how = f"at {when(at) if at is not None else 'an unknown time'} via {_source_label(source)}"
    if action == ConsentAction.WITHDRAWN:
        return Verdict("consent", REFUSE, f"consent for {scope} withdrawn {how}", code="consent_withdrawn")
    return Verdict("consent", PASS, f"consent for {scope} granted {how}")


def check_consent(facts: PolicyFacts, *, recipient_id: int, channel: str, purpose: str, category: str) -> Verdict:
    record = facts.latest_consent(recipient_id, channel, purpose, category)
    return _consent_verdict(
        action=record.action if record else None,
        at=record.created_at if record else None,
        source=record.source if record else "",
        channel=channel,
        purpose=purpose,
        category=category,
    )


def _matches(pref: Preference, *, type_id: int, category: str, channel: str) -> bool:
    if pref.channel and pref.channel != channel:
        return False
    if pref.notification_type_id is not None:
        return pref.notification_type_id == type_id
    return pref.category in ("", category)


def _matching(facts: PolicyFacts, *, recipient_id: int, type_id: int, category: str, channel: str) -> list[Preference]:
    return [
        p
        for p in facts.preferences.get(recipient_id, ())
        if _matches(p, type_id=type_id, category=category, channel=channel)
    ]


def _scoped_on(pref: Preference) -> bool:
    """An "on" naming the type or its category (what an opt-in type needs)."""
    return pref.enabled and bool(pref.notification_type_id or pref.category)


def check_preference(
    facts: PolicyFacts, *, recipient_id: int, type_id: int, type_key: str, category: str, channel: str, policy: str
) -> Verdict:
    """Every matching choice must allow the message; an opt-in type also needs an explicit "on"."""
    if policy == PreferencePolicy.REQUIRED:
        return Verdict("preference", PASS, f"{type_key} is required: preferences do not apply")
    matching = _matching(facts, recipient_id=recipient_id, type_id=type_id, category=category, channel=channel)
    off = [p for p in matching if not p.enabled]
    if off:
        names = "; ".join(_describe(p, type_key) for p in off)
        return Verdict("preference", REFUSE, f"recipient turned off {names}", code="preference_off")
    scoped_on = [p for p in matching if _scoped_on(p)]
    if policy == PreferencePolicy.OPT_IN and not scoped_on:
        return Verdict(
            "preference",
            REFUSE,
            f"{type_key} is opt-in and the recipient has not turned it on for {channel}",
            code="not_opted_in",
        )
    return _preference_pass(type_key=type_key, channel=channel, on=len(matching))


def _preference_pass(*, type_key: str, channel: str, on: int) -> Verdict:
    if on:
        return Verdict("preference", PASS, f"recipient allows {type_key} by {channel} ({on} matching choice(s) on)")
    return Verdict("preference", PASS, f"no preference set; {type_key} is on by default")


def _describe(pref: Preference, type_key: str) -> str:
    what = (
        type_key
        if pref.notification_type_id is not None
        else f"category {pref.category}"
        if pref.category
        else "all notifications"
    )
    return f"{what} by {pref.channel or 'any channel'} (since {when(pref.updated_at)})"


def quick_refuses(quick, *, purpose: str, policy: str) -> bool:
    """The three checks' rules over `QuickPolicy` answers: True when one of them refuses."""
    if quick.suppressed:
        return True
    if quick.consent_action == ConsentAction.WITHDRAWN or (purpose == MARKETING and quick.consent_action is None):
        return True
    if policy == PreferencePolicy.REQUIRED:
        return False
    return bool(quick.preferences_off) or (policy == PreferencePolicy.OPT_IN and not quick.preferences_on_scoped)


def quick_verdicts(
    quick, *, channel: str, address: str, purpose: str, category: str, type_key: str, policy: str
) -> list[Verdict] | None:
    """The passing verdicts over `QuickPolicy` answers (one statement instead of the facts' three queries),
    worded exactly as the full checks word them, or None when one of them refuses (the caller then runs the
    full checks, which name what refused)."""
    if quick_refuses(quick, purpose=purpose, policy=policy):
        return None
    consent = _consent_verdict(
        action=quick.consent_action,
        at=quick.consent_at,
        source=quick.consent_source or "",
        channel=channel,
        purpose=purpose,
        category=category,
    )
    if policy == PreferencePolicy.REQUIRED:
        preference = Verdict("preference", PASS, f"{type_key} is required: preferences do not apply")
    else:
        preference = _preference_pass(type_key=type_key, channel=channel, on=quick.preferences_on)
    return [_not_suppressed(channel, address), consent, preference]


# --- the entry point ------------------------------------------------------------------------------------


class PersonCheck(NamedTuple):
    """One question: may this recipient be contacted on `channel` (at `address`) about a type with this
    purpose, category and preference policy? (Immutable; a tuple for the same reason as Verdict.)"""

    recipient_id: int | None
    organisation_id: int | None
    channel: str
    address: str
    purpose: str
    category: str
    type_id: int
    type_key: str
    policy: str

    @classmethod
    def of(cls, *, recipient, ntype, channel: str, address: str | None = None) -> PersonCheck:
        """The question for a recipient and a notification type (anything with the type's fields); `address` is
        the recipient's on `channel` where the caller has it already."""
        return cls(
            recipient_id=recipient.pk,
            organisation_id=recipient.organisation_id,
            channel=channel,
            address=recipient.address_for(channel) if address is None else address,
            purpose=ntype.purpose,
            category=ntype.category,
            type_id=ntype.pk,
            type_key=ntype.key,
            policy=ntype.preference_policy,
        )


def facts_for(questions: Sequence[PersonCheck]) -> PolicyFacts:
    """Everything the questions' checks read, in three queries however many questions there are."""
    return policy_facts(
        recipient_ids=[q.recipient_id for q in questions if q.recipient_id is not None],
        addresses=[(q.organisation_id, q.channel, address_key(q.channel, q.address)) for q in questions if q.address],
    )


def _full_checks(facts: PolicyFacts, q: PersonCheck) -> list[Verdict]:
    """Suppression, consent, preference, in that order; stops at the first refusal."""
    verdicts = [check_suppression(facts, organisation_id=q.organisation_id, channel=q.channel, address=q.address)]
    if not verdicts[-1].refused:
        verdicts.append(
            check_consent(
                facts, recipient_id=q.recipient_id or 0, channel=q.channel, purpose=q.purpose, category=q.category
            )
        )
    if not verdicts[-1].refused:
        verdicts.append(
            check_preference(
                facts,
                recipient_id=q.recipient_id or 0,
                type_id=q.type_id,
                type_key=q.type_key,
                category=q.category,
                channel=q.channel,
                policy=q.policy,
            )
        )
    return verdicts


def _quick(q: PersonCheck, *, lean: bool):
    return policy_quick(
        recipient_id=q.recipient_id or 0,
        organisation_id=q.organisation_id or DEFAULT_ORGANISATION_ID,
        channel=q.channel,
        address=address_key(q.channel, q.address),
        purpose=q.purpose,
        category=q.category,
        type_id=q.type_id,
        lean=lean,
    )


def person_checks(questions: Sequence[PersonCheck], *, facts: PolicyFacts | None = None) -> list[list[Verdict]]:
    """The verdicts of each question: suppression, consent, preference, stopping at the first refusal (the last
    verdict decides). With `facts` (a batch read them up front) nothing more is read; without, one question is
    answered by one statement when everything passes (the common case: every single submit), and the facts are
    read only to word a refusal, or for several questions at once."""
    if facts is None and len(questions) == 1:
        q = questions[0]
        fast = quick_verdicts(
            _quick(q, lean=False),
            channel=q.channel,
            address=q.address,
            purpose=q.purpose,
            category=q.category,
            type_key=q.type_key,
            policy=q.policy,
        )
        if fast is not None:
            return [fast]
    facts = facts if facts is not None else facts_for(questions)
    return [_full_checks(facts, q) for q in questions]


def person_refusals(questions: Sequence[PersonCheck]) -> list[Verdict | None]:
    """Only what refuses each question (None: it may go), as cheaply as possible: the send path's re-check. A
    single question that passes costs one lean statement; a refusal is worded by the full checks."""
    if len(questions) == 1:
        q = questions[0]
        if not quick_refuses(_quick(q, lean=True), purpose=q.purpose, policy=q.policy):
            return [None]
    facts = facts_for(questions)
    refusals: list[Verdict | None] = []
    for q in questions:  # the yes/no from the facts; only a refusal is worded (a claimed batch mostly passes)
        if quick_refuses(quick_from_facts(facts, q), purpose=q.purpose, policy=q.policy):
            verdicts = _full_checks(facts, q)
            refusals.append(verdicts[-1] if verdicts[-1].refused else None)
        else:
            refusals.append(None)
    return refusals


def quick_from_facts(facts: PolicyFacts, q: PersonCheck) -> QuickPolicy:
    """What `policy_quick`'s statement answers for `q`, read from facts already loaded (no statement)."""
    recipient_id = q.recipient_id or 0
    record = facts.latest_consent(recipient_id, q.channel, q.purpose, q.category)
    matching = _matching(facts, recipient_id=recipient_id, type_id=q.type_id, category=q.category, channel=q.channel)
    return QuickPolicy(
        suppressed=(q.organisation_id, q.channel, address_key(q.channel, q.address)) in facts.suppressions,
        consent_action=record.action if record else None,
        consent_at=record.created_at if record else None,
        consent_source=record.source if record else None,
        preferences_off=sum(1 for p in matching if not p.enabled),
        preferences_on=sum(1 for p in matching if p.enabled),
        preferences_on_scoped=sum(1 for p in matching if _scoped_on(p)),
    )
