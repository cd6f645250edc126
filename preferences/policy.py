"""The checks that can stop a message because of the person: suppression, consent, preference.

Pure functions over PolicyFacts (read in bulk by preferences.selectors.policy_facts), each returning a
verdict with a reason a newcomer can read in the decision trace. The notifications pipeline runs them at
submit and again just before the provider call, because each can change while a message waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .constants import MARKETING, PreferencePolicy
from .models import ConsentAction, ConsentSource, Preference, SuppressionReason
from .selectors import PolicyFacts

PASS = "pass"  # noqa: S105 (an outcome, not a password)
REFUSE = "refuse"

_CHANNEL_WORD = {"sms": "phone", "email": "email"}
_SUPPRESSION_VERB = {
    SuppressionReason.STOP: "replied STOP",
    SuppressionReason.BOUNCE: "hard-bounced",
    SuppressionReason.COMPLAINT: "reported a message as spam",
    SuppressionReason.UNSUBSCRIBE: "unsubscribed at the provider",
    SuppressionReason.INVALID: "was refused by the provider as invalid",
    SuppressionReason.MANUAL: "was blocked by staff",
}


@dataclass(frozen=True)
class Verdict:
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
    """How the suppression list spells an address (emails are case-insensitive in practice)."""
    return address.strip().lower() if channel == "email" else address.strip()


def _not_suppressed(channel: str, address: str) -> Verdict:
    return Verdict(
        "suppression", PASS, f"{_CHANNEL_WORD.get(channel, channel)} {mask_address(address)} is not suppressed"
    )


def check_suppression(facts: PolicyFacts, *, channel: str, address: str) -> Verdict:
    s = facts.suppressions.get((channel, address_key(channel, address)))
    if s is None:
        return _not_suppressed(channel, address)
    verb = _SUPPRESSION_VERB.get(s.reason, s.reason)
    detail = f" ({s.detail})" if s.detail else ""
    who = f"{_CHANNEL_WORD.get(channel, channel)} {mask_address(address)}"
    return Verdict(
        "suppression",
        REFUSE,
        f"suppressed: {who} {verb} at {when(s.created_at)}{detail}",
        code=f"suppressed_{s.reason}",
    )


def _source_label(source: str) -> str:
    return ConsentSource(source).label.lower() if source in ConsentSource.values else source


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
    how = f"at {when(at)} via {_source_label(source)}"
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


def check_preference(
    facts: PolicyFacts, *, recipient_id: int, type_id: int, type_key: str, category: str, channel: str, policy: str
) -> Verdict:
    """Every matching choice must allow the message; an opt-in type also needs an explicit "on"."""
    if policy == PreferencePolicy.REQUIRED:
        return Verdict("preference", PASS, f"{type_key} is required: preferences do not apply")
    matching = [
        p
        for p in facts.preferences.get(recipient_id, ())
        if _matches(p, type_id=type_id, category=category, channel=channel)
    ]
    off = [p for p in matching if not p.enabled]
    if off:
        names = "; ".join(_describe(p, type_key) for p in off)
        return Verdict("preference", REFUSE, f"recipient turned off {names}", code="preference_off")
    scoped_on = [p for p in matching if p.enabled and (p.notification_type_id or p.category)]
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
