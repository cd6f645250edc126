"""Staff-written templates cannot reach Python internals, settings or the filesystem, cannot run for long or
produce unbounded output, and escape data in HTML. Each payload is refused when saved, or renders harmlessly
with no secret in the output."""

import time

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from notifications.delivery import queue_drain
from templates_app.models import Template
from templates_app.rendering import RenderError, render_message
from templates_app.services import version_create, version_publish
from tests.factories import submit
from tests.fakes.providers import MAILGUN

pytestmark = pytest.mark.django_db

X = [{"name": "x", "type": "string", "required": True, "sample": "value"}]
V = [{"name": "v", "type": "string", "required": True, "sample": "2026-01-01"}]


def sms_template() -> Template:
    return Template.objects.get(notification_type__key="payment_reminder", channel="sms", locale="en")


def save(text: str, variables=X):
    return version_create(template=sms_template(), text=text, variables=variables)


@pytest.mark.parametrize(
    ("payload", "variables", "why"),
    [
        ("{{ ''.__class__.__mro__ }}", [], "refused by the template sandbox"),
        ("{{ x.__class__.__init__.__globals__ }}", X, "refused by the template sandbox"),
        ("{{ x|attr('__class__') }}", X, "refused by the template sandbox"),
        ("{{ '{0.__class__.__init__.__globals__}'.format(x) }}", X, "refused by the template sandbox"),
        ("{{ ('{0.__class__}')|attr('format')(x) }}", X, "refused by the template sandbox"),
        ("{% include '/etc/passwd' %}", [], "no partial named '/etc/passwd'"),
        ("{% include 'footer' %}{% include '../settings.py' %}", [], "no partial named '../settings.py'"),
        ("{% debug %}", [], "Encountered unknown tag 'debug'"),
        ('{{ v|date:"SECRET_KEY" }}', V, "line 1"),
        ("{% for i in range(1000000000) %}x{% endfor %}", [], "range() of 1000000000 items"),
        ("{{ 'x' * 1000000000 }}", [], "would build 1000000000 items"),
        ("{{ 2 ** 1000000 }}", [], "exponent 1000000 is larger than 64"),
        ("{% extends 'footer' %}", [], ""),  # harmless: only a saved partial could be extended
    ],
)
def test_injection_payloads_are_refused_when_saved(catalogue, payload, variables, why):
    try:
        version = save(payload, variables)
    except ValidationError as exc:
        message = " ".join(str(m) for m in exc.messages)
        assert why in message, message
        assert settings.SECRET_KEY not in message
        return
    # saved: it must render harmlessly
    assert why == "", f"{payload!r} was saved"
    from templates_app.services import template_preview

    out = template_preview(version=version).text
    assert settings.SECRET_KEY not in out and "/etc/passwd" not in out


def test_a_billion_iteration_loop_hits_the_time_limit(catalogue, settings):
    settings.COMMHUB = {**settings.COMMHUB, "TEMPLATE_RENDER_SECONDS": 0.5}
    loop = "{% for i in range(10000) %}{% for j in range(10000) %}{% for k in range(10) %}"
    payload = loop + "{% endfor %}{% endfor %}{% endfor %}"  # 10^9 iterations
    started = time.monotonic()
    with pytest.raises(ValidationError, match="time limit"):
        save(payload, [])
    assert time.monotonic() - started < 3


def test_output_is_capped(catalogue, settings):
    settings.COMMHUB = {**settings.COMMHUB, "TEMPLATE_MAX_OUTPUT_CHARS": 10_000}
    with pytest.raises(RenderError, match="more than 10000 characters"):
        render_message(subject="", body="{% for i in range(10000) %}0123456789{% endfor %}", html="", context={})


def test_a_script_in_data_is_escaped_in_html_and_never_evaluated(catalogue, recipient, via_fakes):
    n = submit(type="monthly_report", data={"month": "<script>alert(document.cookie)</script>{{ 7*7 }}"})
    queue_drain(queue="email_reports")
    [sent] = via_fakes.sent(MAILGUN)
    assert "<script>" not in sent.fields["html"]
    assert "&lt;script&gt;alert(document.cookie)&lt;/script&gt;" in sent.fields["html"]
    assert "{{ 7*7 }}" in sent.fields["text"] and "49" not in sent.fields["text"]  # data is data, not a template
    assert n.pk


def test_settings_and_the_environment_are_not_in_the_context(catalogue):
    for payload in (
        "{{ settings.SECRET_KEY }}",
        "{{ config }}",
        "{{ request }}",
        "{{ self._TemplateReference__context }}",
    ):
        with pytest.raises(ValidationError):
            save(payload, [])


def test_a_published_template_with_a_runtime_error_fails_the_notification_not_the_worker(
    catalogue, recipient, via_fakes
):
    template = Template.objects.get(notification_type__key="monthly_report", channel="email", locale="en")
    version = version_create(
        template=template,
        subject="{{ month }}",
        html="<p>{{ (month|int) // (month|int - 5) }}</p>",
        variables=[{"name": "month", "type": "string", "required": True, "sample": "7"}],
    )
    version_publish(version=version)
    n = submit(type="monthly_report", data={"month": "5"})  # divides by zero at send time
    result = queue_drain(queue="email_reports")
    assert result.failed == 1 and via_fakes.sent(MAILGUN) == []
    n.refresh_from_db()
    assert n.error_code == "render_error" and "division" in n.last_error
