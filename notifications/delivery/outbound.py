"""Outbound: the message a provider receives, rendered just before the call.

The notification's own template version (chosen at submit and frozen) is rendered for its recipient as the
recipient is now (a changed address or name counts), with the channel's additions (marketing email's
one-click unsubscribe). What was rendered is kept on the row when the outcome is written.
"""

from __future__ import annotations

from commhub import channels
from notifications.channels.base import OutboundMessage, PermanentError
from notifications.constants import PRIORITY_BY_NAME
from notifications.models import Notification
from notifications.ratelimit import type_limits
from templates_app.models import TemplateVersion
from templates_app.rendering import RenderError, build_context, render_version
from templates_app.selectors import layout_for, template_for


def _version(notification: Notification) -> TemplateVersion:
    version = notification.template_version
    if version is not None:
        return version
    # a row from before versions existed: the live version of its slot
    live = template_for(
        notification_type_id=notification.notification_type_id,
        channel=notification.channel,
        locale=notification.recipient.locale,
        default_locale=notification.notification_type.default_locale,
        organisation_id=notification.organisation_id,
    )
    if live is None:
        raise PermanentError(
            f"{notification.notification_type.key} has no {notification.channel} template", code="no_template"
        )
    notification.template_id = live.template.pk
    return live.version


def outbound_message(notification: Notification) -> OutboundMessage:
    """Render `notification` for its provider; PermanentError when it cannot be (no address, no template, a
    template that fails for this recipient's data). Keeps what was rendered on the row (unsaved)."""
    version = _version(notification)
    to = notification.recipient.address_for(notification.channel)
    if not to:
        raise PermanentError(f"recipient has no {notification.channel} address any more", code="unreachable")
    ntype = notification.notification_type
    spec = channels.get(notification.channel)
    extra = spec.extra_context(
        recipient_id=notification.recipient_id, purpose=ntype.purpose, category=ntype.category, preview=False
    )
    context = {**build_context(data=notification.data, recipient=notification.recipient), **extra}
    try:
        rendered = render_version(version, context=context, layout=layout_for(version, notification.channel))
    except RenderError as exc:
        raise PermanentError(str(exc), code="render_error") from exc
    rendered, headers = spec.finish(rendered, extra=extra)
    notification.template_version = version
    notification.to_address = to
    notification.rendered_subject = rendered.subject[:998]
    notification.rendered_body = rendered.body
    notification.rendered_html = rendered.html
    limits = type_limits(ntype, notification.channel, notification.recipient_id)
    return OutboundMessage(
        notification_id=str(notification.pk),
        channel=notification.channel,
        to=to,
        subject=rendered.subject,
        body=rendered.body,
        html=rendered.html,
        title=rendered.title,
        action_url=rendered.action_url,
        action_label=rendered.action_label,
        headers=headers,
        limits=tuple(limits),
        critical=notification.priority <= PRIORITY_BY_NAME["critical"],
    )
