"""Template abuse (the security review's payloads): each is refused, or stops within the render time limit
(+10%) having built no more than its bounds allow, and the server still answers. The slowest case is printed."""

from __future__ import annotations

import resource
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from templates_app.models import Template
from templates_app.rendering import RenderError, render_message
from templates_app.services import version_create
from tests.conftest import _client_for

pytestmark = pytest.mark.django_db

LIMIT_SECONDS = 0.5
CAP = 200_000
DOUBLING = "{% set ns = namespace(s='x' * 100000) %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
POWERS = "{% set ns = namespace(n=9 ** 64) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n }}"
LOOPS = "{% for i in range(10000) %}{% for j in range(10000) %}xxxxxxxxxx{% endfor %}{% endfor %}"
CAPTURE = "{% set big %}" + LOOPS + "{% endset %}"
PAYLOADS = {
    "slice": "{{ [1]|slice(25000000) }}",
    "batch": "{{ [1]|batch(25000000, 'x')|list }}",
    "nested **": "{{ ((9 ** 64) ** 64) ** 64 }}",
    "** in a loop": POWERS,
    "center": "{{ 'x'|center(100000000) }}",
    "ljust": "{{ 'x'.ljust(100000000) }}",
    "rjust": "{{ 'x'.rjust(100000000) }}",
    "zfill": "{{ '1'.zfill(100000000) }}",
    "expandtabs": "{{ '\t'.expandtabs(100000000) }}",
    "to_bytes": "{{ (1).to_bytes(100000000, 'big') }}",
    "indent": "{{ ('x\n' * 50000)|indent(5000) }}",
    "indent by a string": "{{ ('x\n' * 50000)|indent('y' * 50000) }}",
    "format filter width": "{{ '%100000000s'|format(1) }}",
    "% width": "{{ '%100000000s' % 1 }}",
    "str.format width": "{{ '{:>100000000}'.format(1) }}",
    "format fields": "{{ ('{0}' * 30000).format('x' * 100000) }}",
    "% fields": "{{ ('%s' * 30000) % (('x' * 3000,) * 30000) }}",
    "replace filter": "{{ ('x' * 100000)|replace('x', 'x' * 100000) }}",
    "replace method": "{{ ('x' * 100000).replace('x', 'x' * 100000) }}",
    "join method": "{{ ('x' * 100000).join(['y' * 100000] * 1000) }}",
    "join filter": "{{ (['y' * 100000] * 1000)|join('x' * 100000) }}",
    "wordwrap": "{{ ('x ' * 50000)|wordwrap(1, wrapstring='y' * 100000) }}",
    "tojson indent": "{{ ([[1, 2, 3]] * 50000)|tojson(indent=100000) }}",
    "doubling with ~": DOUBLING + "{{ ns.s|length }}",
    "doubling with +": DOUBLING.replace("ns.s ~ ns.s", "ns.s + ns.s") + "{{ ns.s|length }}",
    "captured loop": CAPTURE + "{{ big|length }}",
    "streamed output": "{% for i in range(10000) %}{{ 'x' * 99999 }}{% endfor %}",
    "loops of loops": "{% for i in range(10000) %}{% for j in range(10000) %}{{ i }}{% endfor %}{% endfor %}",
    "macro recursion": "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}",
    "nested parentheses": "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
    "nested lists": "{{ " + "[" * 5000 + "]" * 5000 + " }}",
    "nested ifs": "{% if 1 %}" * 3000 + "x" + "{% endif %}" * 3000,
    "nested filters": "{{ 1" + "|string" * 5000 + " }}",
}


@pytest.fixture
def bounds(settings):
    settings.COMMHUB = {**settings.COMMHUB, "TEMPLATE_RENDER_SECONDS": LIMIT_SECONDS, "TEMPLATE_MAX_OUTPUT_CHARS": CAP}


def attempt(source: str) -> tuple[float, str]:
    started = time.monotonic()
    try:
        out = render_message(subject="", body=source, html="", context={})
    except RenderError as exc:
        return time.monotonic() - started, f"refused: {exc}"[:120]
    assert len(out.body) <= CAP
    return time.monotonic() - started, f"rendered {len(out.body)} characters"


def test_every_payload_is_refused_or_bounded_in_time_and_memory(bounds, capsys):
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    timings = {}
    for name, source in PAYLOADS.items():
        took, outcome = attempt(source)
        timings[name] = (took, outcome)
        assert took <= LIMIT_SECONDS * 1.1, (name, took, outcome)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    slowest = max(timings, key=lambda n: timings[n][0])
    with capsys.disabled():
        print(f"\nslowest template payload: {slowest!r} {timings[slowest][0]:.3f}s ({timings[slowest][1]})")
        print(f"peak memory grew by {grown_mb:.0f} MB over {len(PAYLOADS)} payloads")
    assert grown_mb < 200  # a gigabyte string would show here


def test_payloads_saved_or_previewed_through_the_api_never_give_a_500(bounds, catalogue):
    api = _client_for(get_user_model().objects.create_superuser("root", "root@example.com", "x" * 20))
    template = Template.objects.get(notification_type__key="payment_reminder", channel="sms", locale="en")
    for name, source in PAYLOADS.items():
        started = time.monotonic()
        saved = api.post("/api/v1/template-versions/", {"template": template.pk, "text": source}, format="json")
        assert saved.status_code in (201, 400), (name, saved.status_code, saved.content[:200])
        assert time.monotonic() - started < 3 * LIMIT_SECONDS + 1, name
        if saved.status_code == 201:
            version = saved.json()["number"]
            preview = api.post(f"/api/v1/templates/{template.pk}/preview", {"version": version}, format="json")
            assert preview.status_code in (200, 400), (name, preview.status_code, preview.content[:200])
    assert api.get("/api/v1/types/").status_code == 200  # still answering


def test_a_deeply_nested_template_is_refused_when_saved(catalogue):
    template = Template.objects.get(notification_type__key="payment_reminder", channel="sms", locale="en")
    for name in ("nested parentheses", "nested lists", "nested ifs", "nested filters"):
        with pytest.raises(ValidationError, match="nest"):
            version_create(template=template, text=PAYLOADS[name], variables=[])


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ 'Account 123456789012345 for %s'|format('Dana') }}", "Account 123456789012345 for Dana"),
        ("{{ 'Prize 1000000: %s' % 'yours' }}", "Prize 1000000: yours"),
        ("{{ '%.2f'|format(3.14159) }} {{ '{:>6}'.format('x') }}", "3.14      x"),
        ("{{ 'a-b'.replace('-', ' to ') }} {{ ', '.join(['x', 'y']) }} {{ 'x'|center(5) }}", "a to b x, y   x  "),
        ("{% macro row(n) %}<{{ n }}>{% endmacro %}{% for i in range(300) %}{{ row(i) }}{% endfor %}", None),
    ],
)
def test_ordinary_templates_are_not_caught_by_the_bounds(bounds, source, expected):
    out = render_message(subject="", body=source, html="", context={}).body
    assert out == expected if expected is not None else out.count("<") == 300
