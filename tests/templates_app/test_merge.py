"""Rendering once for a group: each recipient's substituted message equals the per-message render, exactly.

The property: for any data, `MergePlan.recipient(context)` either raises RenderError exactly when the
per-message render does, or gives the same subject, text and HTML; and substituting the recipient's values
into the group's shared text gives that message too, unless `exact()` says it would not (the caller then
sends that recipient on the per-message path). Both renderers run for real: nothing is mocked.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifications.catalogue import EMAIL_LAYOUT, PARTIALS, TEMPLATES
from templates_app.merge import MergePlan, NotMergeable, merge_field, merge_plan, substitute
from templates_app.rendering import RenderError, build_context, render_version

LAYOUT = SimpleNamespace(pk=1, html=EMAIL_LAYOUT["html"], text=EMAIL_LAYOUT["text"])


def _version(pk: int, subject: str, text: str, html: str) -> SimpleNamespace:
    return SimpleNamespace(pk=pk, subject=subject, text=text, html=html, title="", action_url="", action_label="")


CATALOGUE_EMAIL = [
    _version(100 + i, t.get("subject", ""), t.get("body", ""), t.get("html", ""))
    for i, ((_, channel), t) in enumerate(sorted(TEMPLATES.items()))
    if channel == "email"
]
# a digest loops over its items: no shared text with per-recipient values, so it is sent one message per call
LOOPING = {v.pk for v in CATALOGUE_EMAIL if "{% for" in v.text}
TRICKY = [
    # filters, tests on values, elif chains, attribute paths, a partial, and the layout's subject
    _version(
        1,
        "{{ title | upper }} for {{ recipient.attributes.first_name | default('you') }}",
        "{% if n is defined and n > 3 %}many {{ n }}{% elif n is defined %}few {{ n }}{% else %}none{% endif %}"
        " {{ '%-5s|' % (tag | default('x')) }} {% include 'footer' %}",
        '<p>{{ title }}</p>{% if url is defined %}<a href="{{ url }}">{{ url | length }}</a>{% endif %}'
        "{{ recipient.email }}",
    ),
    _version(2, "  {{ title }}  {{ title }} ", "{{ title }}{{ title }}", ""),
]
SUBJECT_LAYOUT = SimpleNamespace(
    pk=2,
    html="<title>{{ subject }}</title>{{ content }}",
    text="{% if subject %}[{{ subject }}]{% endif %}\n{{ content }}",
)

text_values = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", " ", "a  b", "<b>&'\"", "%recipient.m0%", "\n\t", "Budgeting 101", "é ü 🎉"]),
)
values = st.one_of(text_values, st.integers(-10, 10), st.none(), st.booleans())
data_strategy = st.dictionaries(
    st.sampled_from(
        [
            *("title", "summary", "url", "n", "tag", "amount", "account", "threshold", "bill_name", "due_date"),
            *("message", "milestone_name", "month", "headline", "insight", "step", "tip", "subject", "content"),
        ]
    ),
    values,
    max_size=12,
)
attributes_strategy = st.dictionaries(st.sampled_from(["first_name", "plan"]), text_values, max_size=2)


@pytest.fixture(autouse=True)
def _partials(monkeypatch):
    # the saved partials the include reaches (a snapshot of the database table in production)
    partials = dict(PARTIALS)
    monkeypatch.setattr("templates_app.merge.partial_sources", lambda: partials)
    monkeypatch.setattr("templates_app.rendering.partial_sources", lambda: partials)


def _context(data: dict, attributes: dict, unsubscribe: bool) -> dict:
    recipient = SimpleNamespace(
        external_id="u1", email="a@example.com", phone="", locale="en", timezone="", attributes=attributes
    )
    context = build_context(data=data, recipient=recipient)
    if unsubscribe:
        context["unsubscribe_url"] = "https://hub.example.com/u/abc123/"
    return context


def _assert_same(plan: MergePlan, version, layout, context: dict) -> None:
    try:
        expected = render_version(version, context=context, layout=layout)
    except RenderError:
        with pytest.raises(RenderError):
            plan.recipient(context)
        return
    merged = plan.recipient(context)
    assert (merged.subject, merged.body, merged.html) == (expected.subject, expected.body, expected.html)
    shared = merged.shared
    if merged.exact(shared):
        assert substitute(shared.subject, merged.values) == expected.subject
        assert substitute(shared.body, merged.values) == expected.body
        assert substitute(shared.html, merged.values) == expected.html


@pytest.mark.parametrize("version", CATALOGUE_EMAIL + TRICKY, ids=lambda v: f"v{v.pk}")
@pytest.mark.parametrize("layout", [None, LAYOUT, SUBJECT_LAYOUT], ids=["no-layout", "catalogue", "subject"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=data_strategy, attributes=attributes_strategy, unsubscribe=st.booleans())
def test_merged_message_equals_the_per_message_render(version, layout, data, attributes, unsubscribe):
    if version.pk in LOOPING:
        with pytest.raises(NotMergeable):
            MergePlan(version, layout)
        return
    plan = MergePlan(version, layout)
    _assert_same(plan, version, layout, _context(data, attributes, unsubscribe))


def test_a_group_shares_one_text_and_recipients_differ_only_in_their_values():
    version = CATALOGUE_EMAIL[[v.subject for v in CATALOGUE_EMAIL].index("{{ title }}")]
    plan = MergePlan(version, LAYOUT)
    a = plan.recipient(_context({"title": "A & B", "summary": "one", "url": "https://x.test/1"}, {}, True))
    b = plan.recipient(_context({"title": "C", "summary": "two", "url": "https://x.test/2"}, {}, True))
    assert a.shape == b.shape
    shared = a.shared
    assert b.shared == shared and a.exact(shared) and b.exact(shared)
    assert "<h1>A &amp; B</h1>" in a.html and "one" in a.body and a.subject == "A & B"
    field = merge_field(shared.html, lambda slot: f"%recipient.m{slot}%")
    assert "%recipient.m" in field and "A &amp; B" not in field
    # a recipient without the optional url takes the other branch: another shape, its own shared text
    c = plan.recipient(_context({"title": "D", "summary": "three"}, {}, True))
    assert c.shape != a.shape and "Read more" not in c.body


@pytest.mark.parametrize(
    "source",
    [
        "{% for x in items %}{{ x }}{% endfor %}",
        "{% set y = 1 %}{{ y }}",
        "{% macro m() %}x{% endmacro %}{{ m() }}",
        "{% include name %}",
    ],
)
def test_templates_that_are_not_a_substitution_are_not_planned(source):
    with pytest.raises(NotMergeable):
        MergePlan(_version(9, "s", source, ""), None)
    assert merge_plan(_version(9, "s", source, ""), None) is None


def test_a_derived_text_part_is_not_planned():
    assert merge_plan(_version(10, "s", "", "<p>{{ x }}</p>"), None) is None
