"""Sandboxed rendering and the variables a template needs."""

import pytest

from templates_app.rendering import RenderError, missing_variables, render_message, required_paths


def test_required_paths_ignore_guarded_and_defaulted_variables():
    source = (
        "{{ amount }} on {{ account.name }}"
        "{% if threshold is defined %} limit {{ threshold }}{% endif %}"
        " {{ note | default('') }}{% for item in items %}{{ item.price }}{% endfor %}"
        " {{ recipient.attributes.first_name }}"
    )
    assert required_paths(source) == {("amount",), ("account", "name"), ("items",)}


def test_missing_variables_names_nested_paths():
    sources = ["{{ amount }} {{ account.name }}"]
    assert missing_variables(sources, {"amount": 1, "account": {"name": "x"}}) == []
    assert missing_variables(sources, {"account": {}}) == ["account.name", "amount"]
    assert missing_variables(sources, {"amount": 1, "account": "checking"}) == ["account.name"]


def test_html_autoescapes_but_text_does_not():
    out = render_message(
        subject="Hi {{ name }}",
        body="{{ name }}",
        html="<p>{{ name }}</p>",
        context={"name": "<script>alert(1)</script>"},
    )
    assert out.html == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert out.body == "<script>alert(1)</script>"


def test_subject_cannot_inject_headers():
    out = render_message(subject="Hello {{ x }}", body="", html="", context={"x": "a\r\nBcc: evil@example.com"})
    assert "\n" not in out.subject and "\r" not in out.subject


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ x.__class__.__init__.__globals__ }}",
        "{{ x|attr('__class__') }}",
        "{{ ''.format.__self__ }}",
    ],
)
def test_sandbox_refuses_python_internals(source):
    with pytest.raises(RenderError):
        render_message(subject="", body=source, html="", context={"x": "value"})


def test_missing_variable_is_an_error_not_an_empty_string():
    with pytest.raises(RenderError, match="amount"):
        render_message(subject="", body="{{ amount }}", html="", context={})


def test_immutable_sandbox_cannot_mutate_data():
    with pytest.raises(RenderError):
        render_message(subject="", body="{{ items.append(1) }}", html="", context={"items": []})
