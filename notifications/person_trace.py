"""What a person reads of a decision trace (/api/v1/me/...): each step's outcome, and a reason written for them.

The trace staff read names budgets and their spend, staff members and their notes, provider errors and internal
ids; none of that is the person's business (and some of it is another person's). Each step is rewritten from its
check, its outcome and the notification's refusal code; a step a person has no use for (budgets) is left out,
and a check this module does not know keeps its outcome with no reason rather than leaking one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from commhub import channels

_SUPPRESSED = {
    "suppressed_stop": "You replied STOP, so we do not text this number.",
    "suppressed_bounce": "Messages to this address bounced, so we stopped sending to it.",
    "suppressed_complaint": "You reported one of our messages as spam, so we stopped sending to this address.",
    "suppressed_unsubscribe": "You unsubscribed this address.",
    "suppressed_invalid": "Your provider refused this address as invalid.",
}
_REFUSED = {
    "no_consent": "You have not agreed to receive these messages.",
    "consent_withdrawn": "You withdrew your consent for these messages.",
    "preference_off": "You turned these off in your preferences.",
    "not_opted_in": "You have not turned these on in your preferences.",
    "frequency_cap": "Skipped: we limit how often we send these.",
    "budget": "Not sent: a sending limit was reached.",
}
_PROVIDER = {
    "delivered": "Delivered.",
    "opened": "Opened.",
    "clicked": "Opened.",
    "bounced": "Could not be delivered.",
    "failed": "Could not be delivered.",
    "undelivered": "Could not be delivered.",
    "rejected": "Could not be delivered.",
    "complained": "Reported as spam.",
    "sent": "Handed to the provider.",
    "queued": "Handed to the provider.",
}
_FIXED = {
    ("type", "pass"): "We accepted this notification.",
    ("suppression", "pass"): "Your contact details can receive messages.",
    ("preference", "pass"): "Your preferences allow it.",
    ("frequency_cap", "pass"): "Within how often we send these.",
    ("frequency_cap", "defer"): "Held back: we limit how often we send these.",
    ("template", "pass"): "Message prepared.",
    ("rate limit", "wait"): "Waiting for a free sending slot.",
    ("delivery", "retry"): "Delivery did not work yet; trying again.",
    ("delivery", "fail"): "Could not be delivered.",
    ("delivery", "unknown"): "Sent; waiting for the provider to confirm.",
    ("sweeper", "resend"): "Sending again.",
    ("sweeper", "fail"): "Could not be delivered.",
    ("cancel", "stop"): "Cancelled before it was sent.",
    ("retry", "info"): "Sent again.",
    ("expiry", "expire"): "Not sent: by then it was too late to be useful.",
    ("sweeper", "expire"): "Not sent again: by then it was too late to be useful.",
}
_LEFT_OUT = frozenset({"budget"})  # a budget that let it through is nobody's business but the operator's


def _label(channel: str) -> str:
    return channels.get(channel).label if channels.exists(channel) else "another channel"


def _named_channel(words: list[str], default: str) -> str:
    return words[0] if words and channels.exists(words[0]) else default


def _own_choice(reason: str, code: str) -> str:
    """A refusal by the person's own choice, in their words: what they turned off, what they never agreed to."""
    if code == "preference_off" and reason.startswith("recipient turned off "):
        what = reason.removeprefix("recipient turned off ").split(" (since")[0]
        return f"You turned off {what}."
    if code == "no_consent" and reason.startswith("no consent for "):
        return f"You have not agreed to receive {reason.removeprefix('no consent for ').split(':')[0]} messages."
    if code == "consent_withdrawn" and reason.startswith("consent for "):
        return f"You withdrew your consent for {reason.removeprefix('consent for ').split(' withdrawn')[0]} messages."
    return ""


def person_reason(check: str, outcome: str, reason: str = "", *, code: str = "", channel: str = "") -> str:
    """One step (or one verdict) for the person it is about."""
    if outcome == "refuse":
        if check == "suppression":
            return _SUPPRESSED.get(code, "This address is blocked from receiving messages.")
        return _own_choice(reason, code) or _REFUSED.get(code, "Not sent.")
    if (check, outcome) in _FIXED:
        return _FIXED[(check, outcome)]
    if check == "channel":
        named = _named_channel(reason.split()[:1], channel)  # "sms is financial_alert's default channel"
        if outcome == "skip":
            return "One channel was skipped: we have no contact details for you there."
        if outcome == "fallback":
            return f"By {_label(named)}, as the first channel could not be used."
        return f"By {_label(named)}."
    if check == "fallback":
        named = _named_channel(reason.split()[-1:], channel)  # "sms failed (...); trying email"
        return f"Sent by {_label(named)} instead, as the first channel did not work."
    if check == "consent":
        needed = "no consent needed" not in reason
        return "You agreed to receive these messages." if needed else "No consent is needed for these messages."
    if check == "quiet_hours":
        if outcome == "defer":
            until = reason.rpartition("deferred to ")[2]
            return f"Held until {until}: outside the hours you receive messages." if until else "Held until later."
        if "bypasses" in reason or "do not apply" in reason:
            return "Sent whatever the time: quiet hours do not apply to these messages."
        return "Within the hours you receive messages."
    if check == "schedule":
        return f"Scheduled for {reason.removeprefix('scheduled for ')}." if reason else "Scheduled."
    if check == "provider":
        return _PROVIDER.get(outcome, "")
    return ""


def person_trace(steps: Iterable[Mapping[str, str]], *, refusal_code: str, channel: str) -> list[dict[str, str]]:
    """The trace as the person reads it (see the module docstring)."""
    shown = []
    for step in steps:
        check, outcome = str(step.get("check", "")), str(step.get("outcome", ""))
        if check in _LEFT_OUT and outcome != "refuse":
            continue
        reason = person_reason(check, outcome, str(step.get("reason", "")), code=refusal_code, channel=channel)
        shown.append({"check": check, "outcome": outcome, "reason": reason})
    return shown
