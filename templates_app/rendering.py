"""Rendering staff-written templates safely.

Engine: Jinja2's ImmutableSandboxedEnvironment (3.1.6 or newer). Django's own template language "isn't
safe against untrusted template authors" (its docs; the 2015 `date` filter SECRET_KEY leak); Jinja2's
sandbox is built for exactly that case: attribute access to dunder/internal names is refused, `str.format`
is wrapped, and the immutable variant forbids mutating lists and dicts passed in. StrictUndefined turns a
missing variable into an error instead of an empty string, so nothing half-rendered is ever sent.

HTML parts autoescape; subjects, text bodies and SMS do not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Names the renderer provides itself; data keys with these names are shadowed.
RESERVED_NAMES = frozenset({"recipient"})
# Filters and tests that make a missing variable harmless.
_OPTIONAL_FILTERS = frozenset({"default", "d"})
_OPTIONAL_TESTS = frozenset({"defined", "undefined", "none"})

_text_env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_html_env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=True, keep_trailing_newline=True)


class TemplateSyntaxProblem(ValueError):
    """The template source does not parse."""


class RenderError(ValueError):
    """Rendering failed: a missing variable, a refused operation, or a runtime error in the template."""


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body: str
    html: str


def check_syntax(source: str) -> None:
    if not source:
        return
    try:
        _text_env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateSyntaxProblem(f"line {exc.lineno}: {exc.message}") from exc


@lru_cache(maxsize=1024)
def _compiled(source: str, html: bool):
    return (_html_env if html else _text_env).from_string(source)


def _render_part(source: str, context: Mapping[str, Any], *, html: bool) -> str:
    if not source:
        return ""
    try:
        return _compiled(source, html).render(context)
    except UndefinedError as exc:
        raise RenderError(f"missing variable: {exc.message}") from exc
    except SecurityError as exc:
        raise RenderError(f"refused by the template sandbox: {exc}") from exc
    except TemplateSyntaxError as exc:
        raise RenderError(f"template syntax error at line {exc.lineno}: {exc.message}") from exc
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
        raise RenderError(f"template error: {exc}") from exc


def render_message(*, subject: str, body: str, html: str, context: Mapping[str, Any]) -> RenderedMessage:
    return RenderedMessage(
        subject=" ".join(_render_part(subject, context, html=False).split()),  # no header injection
        body=_render_part(body, context, html=False),
        html=_render_part(html, context, html=True),
    )


def build_context(*, data: Mapping[str, Any], recipient: Any) -> dict[str, Any]:
    """Template context: the request's data at top level, the recipient under `recipient`."""
    context = dict(data)
    context["recipient"] = {
        "external_id": recipient.external_id,
        "email": recipient.email,
        "phone": recipient.phone,
        "locale": recipient.locale,
        "timezone": recipient.timezone,
        "attributes": recipient.attributes or {},
    }
    return context


# --- variables a template needs ------------------------------------------------------------------------


def _names_proven_defined(test: nodes.Node) -> set[str]:
    """Names an `{% if %}` test proves defined: `x is defined`, also inside `a is defined and b ...`."""
    if isinstance(test, nodes.Test) and test.name == "defined" and isinstance(test.node, nodes.Name):
        return {test.node.name}
    if isinstance(test, nodes.And):
        return _names_proven_defined(test.left) | _names_proven_defined(test.right)
    return set()


def _walk(
    node: nodes.Node,
    parent: nodes.Node | None,
    guarded: frozenset[str],
    out: list[tuple[nodes.Node, nodes.Node | None, frozenset[str]]],
) -> None:
    """Visit every node with its parent and the names an enclosing `is defined` test guards."""
    out.append((node, parent, guarded))
    if isinstance(node, (nodes.If, nodes.CondExpr)):
        test = node.test
        body = node.body if isinstance(node, nodes.If) else [node.expr1]
        rest = [*node.elif_, *node.else_] if isinstance(node, nodes.If) else [node.expr2] if node.expr2 else []
        inner = guarded | _names_proven_defined(test)
        _walk(test, node, guarded, out)
        for child in body:
            _walk(child, node, inner, out)
        for child in rest:
            _walk(child, node, guarded, out)
        return
    for child in node.iter_child_nodes():
        _walk(child, node, guarded, out)


def _path_of(node: nodes.Node, parents: dict[int, nodes.Node | None]) -> tuple[str, ...]:
    """The dotted path a Name starts: `account.owner.name` -> ('account', 'owner', 'name')."""
    path = [node.name]  # type: ignore[attr-defined]
    current = node
    while True:
        parent = parents.get(id(current))
        if isinstance(parent, nodes.Getattr) and parent.node is current:
            path.append(parent.attr)
        elif (
            isinstance(parent, nodes.Getitem)
            and parent.node is current
            and isinstance(parent.arg, nodes.Const)
            and isinstance(parent.arg.value, str)
        ):
            path.append(parent.arg.value)
        else:
            return tuple(path)
        current = parent


def _is_optional_use(node: nodes.Node, parents: dict[int, nodes.Node | None]) -> bool:
    """True when the expression starting at `node` sits under `|default` or an `is defined` test."""
    current = node
    while True:
        parent = parents.get(id(current))
        if isinstance(parent, (nodes.Getattr, nodes.Getitem)) and parent.node is current:
            current = parent
            continue
        if isinstance(parent, nodes.Filter) and parent.node is current and parent.name in _OPTIONAL_FILTERS:
            return True
        return isinstance(parent, nodes.Test) and parent.node is current and parent.name in _OPTIONAL_TESTS


@lru_cache(maxsize=1024)
def required_paths(source: str) -> frozenset[tuple[str, ...]]:
    """The data paths `source` needs, e.g. {('amount',), ('account', 'name')}.

    A variable is optional when every use of it is guarded: `|default(...)`, an `is defined` test, or
    inside `{% if x is defined %}`. Names bound inside the template (loop variables, `{% set %}`) and
    reserved names are not data.
    """
    if not source:
        return frozenset()
    try:
        ast = _text_env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateSyntaxProblem(f"line {exc.lineno}: {exc.message}") from exc
    free = meta.find_undeclared_variables(ast) - RESERVED_NAMES
    visited: list[tuple[nodes.Node, nodes.Node | None, frozenset[str]]] = []
    _walk(ast, None, frozenset(), visited)
    parents = {id(child): parent for child, parent, _ in visited}
    paths: set[tuple[str, ...]] = set()
    for node, _parent, guarded in visited:
        is_data = isinstance(node, nodes.Name) and node.ctx == "load" and node.name in free
        if is_data and node.name not in guarded and not _is_optional_use(node, parents):
            paths.add(_path_of(node, parents))
    return frozenset(paths)


def missing_variables(sources: Iterable[str], data: Mapping[str, Any]) -> list[str]:
    """Dotted names the templates need that `data` does not provide, sorted."""
    missing: set[str] = set()
    for source in sources:
        for path in required_paths(source):
            value: Any = data
            for depth, key in enumerate(path):
                if not (isinstance(value, Mapping) and key in value):
                    # absent, or a scalar where the template reads a field of an object
                    missing.add(".".join(path[: depth + 1]))
                    break
                value = value[key]
    return sorted(missing)
