"""The default catalogue: the eight notification types of the product brief and a starter template for
each type x allowed channel. Installed by `seed_demo` (and `install_catalogue`); staff edit it in the
admin afterwards and a re-install never overwrites an edit.
"""

from __future__ import annotations

from commhub.queues import Tier

from .constants import CapAction, PreferencePolicy, Purpose

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * 60 * MINUTE

TYPES: list[dict] = [
    {
        "key": "financial_alert",
        "ttl_seconds": 30 * MINUTE,  # not sent later than this after it was due
        "name": "Financial Alert",
        "description": "Critical financial notifications: overdraft, security alerts.",
        "priority": 1,
        "default_channel": "sms",
        "fallback_channel": "email",
        "tier": Tier.CRITICAL,
        "purpose": Purpose.TRANSACTIONAL,
        # channels it may use -> at most this many a minute to one recipient
        "channels": {"sms": 10, "email": 5},
        "max_retries": 3,
        "retry_base_delay": 60,
        "category": "alerts",
        "preference_policy": PreferencePolicy.REQUIRED,
        "respects_quiet_hours": False,
    },
    {
        "key": "security_alert",
        "ttl_seconds": 30 * MINUTE,
        "name": "Security Alert",
        "description": "A new sign-in, a changed password: pushed to the person's devices, by SMS when they have none.",
        "priority": 1,
        "default_channel": "push",
        "fallback_channel": "sms",
        "tier": Tier.CRITICAL,
        "purpose": Purpose.TRANSACTIONAL,
        # channels it may use -> at most this many a minute to one recipient
        "channels": {"push": 30, "sms": 10, "email": 5},
        "max_retries": 3,
        "retry_base_delay": 60,
        "category": "alerts",
        "preference_policy": PreferencePolicy.REQUIRED,
        "respects_quiet_hours": False,
    },
    {
        "key": "payment_reminder",
        "ttl_seconds": DAY,
        "name": "Payment Reminder",
        "description": "Bills and subscriptions coming due.",
        "priority": 2,
        "default_channel": "sms",
        "tier": Tier.DAILY,
        "purpose": Purpose.TRANSACTIONAL,
        # channels it may use -> at most this many a minute to one recipient
        "channels": {"sms": 20, "email": 10, "in_app": 60},
        "max_retries": 2,
        "retry_base_delay": 5 * MINUTE,
        "category": "reminders",
        "preference_policy": PreferencePolicy.OPT_OUT,
        "respects_quiet_hours": False,
    },
    {
        "key": "weekly_checkin",
        "ttl_seconds": 2 * DAY,
        "name": "Weekly Check-in",
        "description": "Weekly wellness and engagement check-ins.",
        "priority": 3,
        "default_channel": "sms",
        "tier": Tier.DAILY,
        "purpose": Purpose.MARKETING,
        # channels it may use -> at most this many a minute to one recipient
        "channels": {"sms": 50, "email": 25},
        "max_retries": 2,
        "retry_base_delay": 10 * MINUTE,
        "category": "engagement",
        "preference_policy": PreferencePolicy.OPT_OUT,
        "respects_quiet_hours": True,
        "frequency_cap_count": 1,
        "frequency_cap_window_hours": 7 * 24,
        "frequency_cap_action": CapAction.SKIP,
    },
    {
        "key": "milestone_reminder",
        "ttl_seconds": 3 * DAY,
        "name": "Milestone Reminder",
        "description": "Celebrating goals and achievements.",
        "priority": 4,
        "default_channel": "sms",
        "tier": Tier.DAILY,
        "purpose": Purpose.MARKETING,
        # channels it may use -> at most this many a minute to one recipient
        "channels": {"sms": 30, "email": 15, "in_app": 60, "push": 30},
        "max_retries": 1,
        "retry_base_delay": 15 * MINUTE,
        "category": "engagement",
        "preference_policy": PreferencePolicy.OPT_OUT,
        "respects_quiet_hours": True,
    },
    {
        "key": "monthly_report",
        "ttl_seconds": 7 * DAY,
        "name": "Monthly Report",
        "description": "Monthly financial wellness report.",
        "priority": 5,
        "default_channel": "email",
        "tier": Tier.REPORTS,
        "purpose": Purpose.TRANSACTIONAL,
        # channels it may use -> at most this many a minute to one recipient
        "channels": {"email": 10},
        "max_retries": 2,
        "retry_base_delay": 30 * MINUTE,
        "category": "reports",
        "preference_policy": PreferencePolicy.OPT_OUT,
        "respects_quiet_hours": False,
    },
    {
        "key": "career_insights",
        "ttl_seconds": 7 * DAY,
        "name": "Career Insights",
        "description": "Job market and skills insights.",
        "priority": 6,
        "default_channel": "email",
        "tier": Tier.EDUCATION,
        "purpose": Purpose.MARKETING,
        # channels it may use -> at most this many a minute to one recipient
        "channels": {"email": 20},
        "max_retries": 2,
        "retry_base_delay": 30 * MINUTE,
        "category": "careers",
        "preference_policy": PreferencePolicy.OPT_OUT,
        "respects_quiet_hours": True,
    },
    {
        "key": "educational_content",
        "ttl_seconds": 7 * DAY,
        "name": "Educational Content",
        "description": "Learning materials.",
        "priority": 7,
        "default_channel": "email",
        "tier": Tier.EDUCATION,
        "purpose": Purpose.MARKETING,
        # channels it may use -> at most this many a minute to one recipient
        "channels": {"email": 30},
        "max_retries": 2,
        "retry_base_delay": 30 * MINUTE,
        "category": "education",
        "preference_policy": PreferencePolicy.OPT_OUT,
        "respects_quiet_hours": True,
    },
    {
        "key": "onboarding_sequence",
        "ttl_seconds": 3 * DAY,
        "name": "Onboarding Sequence",
        "description": "Welcome series for new users.",
        "priority": 8,
        "default_channel": "email",
        "tier": Tier.EDUCATION,
        "purpose": Purpose.TRANSACTIONAL,
        # channels it may use -> at most this many a minute to one recipient
        "channels": {"sms": 100, "email": 50},
        "max_retries": 3,
        "retry_base_delay": 15 * MINUTE,
        "category": "onboarding",
        "preference_policy": PreferencePolicy.OPT_OUT,
        "respects_quiet_hours": False,
    },
    {
        # a staff member's reminder of a call they are to make (calls app): at work, so never quiet
        "key": "call_reminder",
        "ttl_seconds": HOUR,
        "name": "Call Reminder",
        "description": "Reminds a staff member of a call they scheduled, shortly before it.",
        "priority": 2,
        "default_channel": "email",
        "fallback_channel": "sms",
        "tier": Tier.CRITICAL,
        "purpose": Purpose.TRANSACTIONAL,
        # channels it may use -> at most this many a minute to one recipient
        "channels": {"email": 30, "sms": 30},
        "max_retries": 2,
        "retry_base_delay": MINUTE,
        "category": "operations",
        "preference_policy": PreferencePolicy.REQUIRED,
        "respects_quiet_hours": False,
    },
    {
        # the person to be called: their consent, preferences and quiet hours apply
        "key": "call_reminder_callee",
        "ttl_seconds": HOUR,
        "name": "Upcoming Call",
        "description": "Tells a person that we will call them, and when.",
        "priority": 3,
        "default_channel": "sms",
        "fallback_channel": "email",
        "tier": Tier.DAILY,
        "purpose": Purpose.TRANSACTIONAL,
        # channels it may use -> at most this many a minute to one recipient
        "channels": {"sms": 5, "email": 5},
        "max_retries": 2,
        "retry_base_delay": MINUTE,
        "category": "account",
        "preference_policy": PreferencePolicy.OPT_OUT,
        "respects_quiet_hours": True,
    },
    {
        # a rule's digest: several events for one person in a window, one message (seed 003's weekly batch)
        "key": "activity_digest",
        "ttl_seconds": DAY,
        "name": "Activity Digest",
        "description": "Several events for one person, combined: e.g. a therapist's week of session requests.",
        "priority": 5,
        "default_channel": "email",
        "tier": Tier.REPORTS,
        "purpose": Purpose.TRANSACTIONAL,
        # channels it may use -> at most this many a minute to one recipient
        "channels": {"email": 10},
        "max_retries": 2,
        "retry_base_delay": 10 * MINUTE,
        "category": "reports",
        "preference_policy": PreferencePolicy.OPT_OUT,
        "respects_quiet_hours": False,
    },
    {
        # commhub's own messages to staff (a crossed budget): never refused by a budget, never quiet
        "key": "staff_alert",
        "ttl_seconds": DAY,
        "name": "Staff Alert",
        "description": "commhub telling its operators something needs attention (e.g. a budget was crossed).",
        "priority": 1,
        "default_channel": "email",
        "tier": Tier.CRITICAL,
        "purpose": Purpose.TRANSACTIONAL,
        # channels it may use -> at most this many a minute to one recipient
        "channels": {"email": 60},
        "max_retries": 3,
        "retry_base_delay": MINUTE,
        "category": "operations",
        "preference_policy": PreferencePolicy.REQUIRED,
        "respects_quiet_hours": False,
    },
]

_GREETING = "Hi{% if recipient.attributes.first_name is defined %} {{ recipient.attributes.first_name }}{% endif %},"


def _email(subject: str, text: str, html: str) -> dict:
    return {
        "subject": subject,
        "body": f"{_GREETING}\n\n{text}\n\n-- commhub",
        "html": f"<p>{_GREETING}</p>\n{html}\n<p>-- commhub</p>",
    }


# (type key, channel) -> template source. Variables without `| default(...)` are required at submit.
TEMPLATES: dict[tuple[str, str], dict] = {
    ("financial_alert", "sms"): {
        "body": "Alert: {{ amount }} on your {{ account }} account."
        "{% if threshold is defined %} Your alert threshold is {{ threshold }}.{% endif %}",
    },
    ("financial_alert", "email"): _email(
        "Alert on your {{ account }} account",
        "We noticed {{ amount }} on your {{ account }} account."
        "{% if threshold is defined %} Your alert threshold is {{ threshold }}.{% endif %}",
        "<p>We noticed <strong>{{ amount }}</strong> on your {{ account }} account."
        "{% if threshold is defined %} Your alert threshold is {{ threshold }}.{% endif %}</p>",
    ),
    ("security_alert", "push"): {
        "title": "{{ event | default('New sign-in') }}",
        "body": "{{ detail | default('Was this you? If not, secure your account now.') }}",
        "action_url": "{{ review_url | default('/security') }}",
    },
    ("security_alert", "sms"): {
        "body": "Security alert: {{ event | default('new sign-in') }}. "
        "{{ detail | default('Was this you? If not, secure your account now.') }}",
    },
    ("security_alert", "email"): _email(
        "Security alert: {{ event | default('new sign-in') }}",
        "{{ detail | default('Was this you? If not, secure your account now.') }}",
        "<p>{{ detail | default('Was this you? If not, secure your account now.') }}</p>",
    ),
    ("payment_reminder", "sms"): {
        "body": "Reminder: {{ bill_name }} of {{ amount }} is due {{ due_date }}.",
    },
    ("payment_reminder", "email"): _email(
        "{{ bill_name }} is due {{ due_date }}",
        "{{ bill_name }} of {{ amount }} is due {{ due_date }}.",
        "<p><strong>{{ bill_name }}</strong> of {{ amount }} is due {{ due_date }}.</p>",
    ),
    ("weekly_checkin", "sms"): {
        "body": 'Weekly check-in: {{ message | default("how is your financial wellness this week?") }}',
    },
    ("weekly_checkin", "email"): _email(
        "Your weekly check-in",
        '{{ message | default("How is your financial wellness this week?") }}',
        '<p>{{ message | default("How is your financial wellness this week?") }}</p>',
    ),
    ("milestone_reminder", "sms"): {
        "body": "🎉 {{ milestone_name }} achieved! {{ message | default('Keep going.') }}",
    },
    ("milestone_reminder", "email"): _email(
        "🎉 {{ milestone_name }} achieved!",
        "{{ message | default('Keep going.') }}",
        "<p>{{ message | default('Keep going.') }}</p>",
    ),
    ("payment_reminder", "in_app"): {
        "title": "{{ bill_name }} is due {{ due_date }}",
        "body": "{{ bill_name }} of {{ amount }} is due {{ due_date }}.",
        "action_url": "{{ pay_url | default('/billing') }}",
        "action_label": "Pay now",
    },
    ("milestone_reminder", "in_app"): {
        "title": "🎉 {{ milestone_name }} achieved!",
        "body": "{{ message | default('Keep going.') }}",
    },
    ("milestone_reminder", "push"): {
        "title": "🎉 {{ milestone_name }} achieved!",
        "body": "{{ message | default('Keep going.') }}",
        "action_url": "/goals",
    },
    ("monthly_report", "email"): _email(
        "Your monthly report for {{ month }}",
        "Your report for {{ month }} is ready.{% if summary is defined %}\n\n{{ summary }}{% endif %}",
        "<h1>Your report for {{ month }}</h1>{% if summary is defined %}<p>{{ summary }}</p>{% endif %}",
    ),
    ("career_insights", "email"): _email(
        "{{ headline | default('Career opportunities for you') }}",
        "{{ insight }}",
        "<p>{{ insight }}</p>",
    ),
    ("educational_content", "email"): _email(
        "{{ title }}",
        "{{ summary }}{% if url is defined %}\n\nRead more: {{ url }}{% endif %}",
        "<h1>{{ title }}</h1><p>{{ summary }}</p>"
        '{% if url is defined %}<p><a href="{{ url }}">Read more</a></p>{% endif %}',
    ),
    ("onboarding_sequence", "email"): _email(
        "Welcome to the app: step {{ step | default(1) }}",
        "{{ tip | default('Set up your profile to get started.') }}",
        "<p>{{ tip | default('Set up your profile to get started.') }}</p>",
    ),
    ("staff_alert", "email"): {
        "subject": "[commhub] {{ subject }}",
        "body": "{{ message }}\n\n-- commhub",
        "html": "<p>{{ message }}</p>\n<p>-- commhub</p>",
    },
    ("call_reminder", "email"): {
        "subject": "Call {{ callee }} at {{ starts_at }}",
        "body": "In {{ minutes }} minutes: call {{ callee }}{% if phone %} on {{ phone }}{% endif %} about "
        "{{ reason }}.\n{% if notes %}\nNotes: {{ notes }}\n{% endif %}\n-- commhub",
        "html": "<p>In {{ minutes }} minutes: call <strong>{{ callee }}</strong>{% if phone %} on {{ phone }}"
        "{% endif %} about {{ reason }}.</p>{% if notes %}<p>Notes: {{ notes }}</p>{% endif %}<p>-- commhub</p>",
    },
    ("call_reminder", "sms"): {
        "body": "In {{ minutes }} min: call {{ callee }}{% if phone %} ({{ phone }}){% endif %} about {{ reason }}.",
    },
    ("call_reminder_callee", "sms"): {
        "body": "Reminder: we will call you at {{ starts_at }} about {{ reason }}.",
    },
    ("call_reminder_callee", "email"): _email(
        "We will call you at {{ starts_at }}",
        "A reminder: we will call you at {{ starts_at }} about {{ reason }}.",
        "<p>A reminder: we will call you at <strong>{{ starts_at }}</strong> about {{ reason }}.</p>",
    ),
    ("activity_digest", "email"): _email(
        "{{ count }} new {{ label | default('updates') }}",
        "Since the last digest:\n{% for item in items %}- {{ item.title | default(item) }}\n{% endfor %}"
        "{% if more %}...and {{ more }} more.{% endif %}",
        "<p>Since the last digest:</p>\n<ul>{% for item in items %}<li>{{ item.title | default(item) }}</li>"
        "{% endfor %}</ul>{% if more %}<p>...and {{ more }} more.</p>{% endif %}",
    ),
    ("onboarding_sequence", "sms"): {
        "body": "Welcome! Step {{ step | default(1) }}: {{ tip | default('set up your profile to get started.') }}",
    },
}

# Sample values for the catalogue's variables: previews and the save-time render check use them.
SAMPLES: dict[str, object] = {
    "amount": "$120.00",
    "account": "checking",
    "threshold": "$100.00",
    "bill_name": "Rent",
    "due_date": "Friday",
    "message": "How is your financial wellness this week?",
    "milestone_name": "Emergency fund",
    "month": "May",
    "summary": "You saved 12% more than in April.",
    "headline": "Three roles that match your skills",
    "insight": "Data skills are in demand in your area.",
    "title": "Budgeting 101",
    "url": "https://example.com/learn/budgeting",
    "step": 2,
    "tip": "Turn on alerts for large purchases.",
    "subject": "Budget crossed: SMS daily",
    "callee": "Dana Smith",
    "phone": "+14155550199",
    "reason": "Review of the monthly budget",
    "starts_at": "10:00 (Europe/Paris) on Mon 7 Dec",
    "minutes": 15,
    "notes": "",
    "items": [{"title": "Sam asked for a session on Tuesday"}, {"title": "Alex asked to move Friday's session"}],
    "count": 2,
    "more": 0,
    "label": "session requests",
}

# The email frame every catalogue email is rendered in: header, the message, a footer partial and, for
# marketing mail, the visible unsubscribe link (List-Unsubscribe headers are added by the pipeline).
EMAIL_LAYOUT = {
    "name": "default-email",
    "channel": "email",
    "is_default": True,
    "html": (
        '<!doctype html>\n<html><body style="font-family: system-ui, sans-serif; color: #222; max-width: 600px; '
        'margin: 0 auto">\n'
        '<div style="padding: 16px 0; border-bottom: 1px solid #eee; font-weight: 600">commhub</div>\n'
        '<div style="padding: 16px 0">{{ content }}</div>\n'
        '<div style="padding: 16px 0; border-top: 1px solid #eee; font-size: 12px; color: #666">{% include "footer" %}'
        "{% if unsubscribe_url is defined %}<p>You receive these emails because you agreed to. "
        '<a href="{{ unsubscribe_url }}">Unsubscribe</a></p>{% endif %}</div>\n</body></html>\n'
    ),
    "text": (
        "{{ content }}\n{% include 'footer' %}\n"
        "{% if unsubscribe_url is defined %}Unsubscribe: {{ unsubscribe_url }}\n{% endif %}"
    ),
}
PARTIALS = {"footer": "commhub · notifications you asked for"}
