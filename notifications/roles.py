"""Staff roles: Django groups with explicit permissions, installed after every migrate.

    Viewer    reads notifications, types, templates, recipients and their consent, suppressions, costs, people's
              push devices and webhook endpoints
    Operator  a viewer who retries and cancels notifications, blocks and unblocks addresses, runs schedules,
              removes a lost device and disables or enables a webhook endpoint
    Editor    a viewer who writes and publishes templates, layouts and partials and tunes notification types
    Auditor   reads the consent ledger, the audit trail and the cost ledger, and exports a person's data
    Admin     all of the above, and erases a person's data and manages budgets and prices

A role's permissions are added when missing and never removed here: staff may widen a role in the admin. A
user's object access is never wider than these permissions (and, with organisations, than their organisation).
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

_VIEW = [
    "notifications.view_notification",
    "notifications.view_notificationtype",
    "notifications.view_typechannel",
    "notifications.view_typeoverride",
    "notifications.view_recurringsend",
    "notifications.view_capturedmessage",
    "templates_app.view_template",
    "templates_app.view_templateversion",
    "templates_app.view_layout",
    "templates_app.view_partial",
    "preferences.view_recipient",
    "preferences.view_preference",
    "preferences.view_consentrecord",
    "preferences.view_suppression",
    "costs.view_costentry",
    "costs.view_budget",
    "costs.view_pricingrule",
    "analytics.view_dailyrollup",
    "analytics.view_queuedepthsample",
    "push.view_pushsubscription",
    "push.view_devicetoken",
    "hooks.view_webhookendpoint",
    "hooks.view_eventsubscription",
    "hooks.view_eventdelivery",
    "calls.view_call",
    "calls.view_callreminder",
]
_OPERATE = [
    "notifications.retry_notification",
    "notifications.cancel_notification",
    "notifications.change_recurringsend",
    "preferences.add_suppression",
    "preferences.change_suppression",
    "push.delete_pushsubscription",  # a lost phone or laptop
    "push.delete_devicetoken",
    "hooks.change_webhookendpoint",  # disable and enable an endpoint
    "hooks.change_eventsubscription",
    "hooks.change_eventdelivery",  # replay events
    "calls.add_call",  # schedule, record outcomes, dial
    "calls.change_call",
]
_EDIT = [
    "templates_app.add_template",
    "templates_app.change_template",
    "templates_app.add_templateversion",
    "templates_app.change_templateversion",
    "templates_app.publish_template",
    "templates_app.add_layout",
    "templates_app.change_layout",
    "templates_app.add_partial",
    "templates_app.change_partial",
    "notifications.change_notificationtype",
    "notifications.change_typechannel",
    "notifications.add_typeoverride",
    "notifications.change_typeoverride",
    "notifications.delete_typeoverride",
]
_AUDIT = [
    "audit.view_auditentry",
    "preferences.view_recipient",
    "preferences.view_consentrecord",
    "preferences.export_recipient",
    "notifications.view_notification",
    "costs.view_costentry",
    "costs.view_budget",
]
_ADMIN_ONLY = [
    "preferences.erase_recipient",
    "preferences.add_recipient",
    "preferences.change_recipient",
    "preferences.add_consentrecord",
    "costs.add_budget",
    "costs.change_budget",
    "costs.delete_budget",
    "costs.add_pricingrule",
    "costs.change_pricingrule",
    "notifications.add_recurringsend",
    "notifications.delete_recurringsend",
    "notifications.send_notification",
]

ROLES: dict[str, list[str]] = {
    "Viewer": _VIEW,
    "Operator": _VIEW + _OPERATE,
    "Editor": _VIEW + _EDIT,
    "Auditor": _AUDIT,
    "Admin": sorted(set(_VIEW + _OPERATE + _EDIT + _AUDIT + _ADMIN_ONLY)),
}


def roles_install() -> list[str]:
    """Create the role groups and add the permissions they lack (those not created yet are skipped: every app's
    post_migrate calls this, and the last one completes the set). Returns the role names."""
    wanted = {name for names in ROLES.values() for name in names}
    known = {
        f"{app}.{code}": pk
        for pk, app, code in Permission.objects.filter(
            content_type__app_label__in={n.split(".")[0] for n in wanted}
        ).values_list("pk", "content_type__app_label", "codename")
    }
    for role, names in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*[known[n] for n in names if n in known])
    return list(ROLES)
