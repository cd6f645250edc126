"""Rendering staff-written templates safely.

Engine: Jinja2's ImmutableSandboxedEnvironment (3.1.6 or newer). Django's own template language "isn't
safe against untrusted template authors" (its docs; the 2015 `date` filter SECRET_KEY leak); Jinja2's
sandbox is built for exactly that case: attribute access to dunder/internal names is refused, `str.format`
is wrapped, and the immutable variant forbids mutating lists and dicts passed in. StrictUndefined turns a
missing variable into an error instead of an empty string, so nothing half-rendered is ever sent.

HTML parts autoescape; subjects, text bodies and SMS do not.

On top of the sandbox: every render has a time limit and an output cap (COMMHUB_TEMPLATE_RENDER_SECONDS,
COMMHUB_TEMPLATE_MAX_OUTPUT_CHARS), checked on every call, operator and range step and while the output
streams; `range()` is capped at 10,000 items and `*`/`**` cannot build huge values. `{% include %}` reaches
only the partials staff saved in the database (no filesystem loader exists), and Jinja's `debug` extension is
not loaded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any

from jinja2 import FunctionLoader, StrictUndefined, TemplateNotFound, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from markupsafe import Markup

from commhub.conf import knobs

from . import limits
from .limits import BoundedSandbox, RenderBudgetExceeded, RenderError, check_deadline
from .selectors import partial_sources
from .syntax import TemplateSyntaxProblem, parsed, refuse_deep_nesting

# Names the renderer provides itself; data keys with these names are shadowed.
RESERVED_NAMES = frozenset({"recipient", "unsubscribe_url", "content"})
# Filters and tests that make a missing variable harmless.
_OPTIONAL_FILTERS = frozenset({"default", "d"})
_OPTIONAL_TESTS = frozenset({"defined", "undefined", "none"})


def _load_partial(name: str):
    """Partials come from the database only: no filesystem, no other templates."""
    source = partial_sources().get(name)
    if source is None:
        raise TemplateNotFound(name)
    return source, None, lambda: partial_sources().get(name) == source


def _environment(autoescape: bool) -> BoundedSandbox:
    env = BoundedSandbox(
        undefined=StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        loader=FunctionLoader(_load_partial),
        auto_reload=True,
    )
    env.globals.pop("lipsum", None)  # a text generator has no place in a message
    return env


_text_env = _environment(autoescape=False)
_html_env = _environment(autoescape=True)


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body: str
    html: str
    title: str = ""  # push and in-app: the headline
    action_url: str = ""  # in-app: where the item leads
    action_label: str = ""  # in-app: the link's words


@lru_cache(maxsize=2048)
def _compiled(source: str, html: bool):
    refuse_deep_nesting(source)
    return (_html_env if html else _text_env).from_string(source)


def _limits() -> tuple[float, int]:
    conf = knobs()
    return conf.template_render_seconds, conf.template_max_output_chars


def _render_part(source: str, context: Mapping[str, Any], *, html: bool) -> str:
    """Render one part within the time limit and output cap (checked while the output streams)."""
    if not source:
        return ""
    try:
        template = _compiled(source, html)
    except TemplateSyntaxError as exc:
        raise RenderError(f"template syntax error at line {exc.lineno}: {exc.message}") from exc
    except (RecursionError, SyntaxError) as exc:  # Python's compiler on a tree too deep (its own limits)
        raise RenderError("the template nests too deeply") from exc
    return render_compiled(template, context)


class _RenderBudget:
    """render_budget's context manager: a plain class, entered for every part rendered (five to seven per
    message, each inside the message's budget), without a generator-based manager's per-use cost."""

    __slots__ = ("max_chars", "opened")

    def __enter__(self) -> _RenderBudget:
        seconds, self.max_chars = _limits()
        self.opened = limits.start(seconds=seconds, max_chars=self.max_chars)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.opened:
            limits.stop()


def render_budget() -> _RenderBudget:
    """One time limit for every render inside the block (a message's parts, or a recipient's merge values)."""
    return _RenderBudget()


def render_compiled(template: Any, context: Mapping[str, Any]) -> str:
    """Render a compiled template within the time limit and output cap; every failure is a RenderError."""
    with render_budget() as budget:
        max_chars = budget.max_chars
        try:
            chunks, size = [], 0
            for chunk in template.generate(context):
                size += len(chunk)
                if size > max_chars:
                    raise RenderBudgetExceeded(f"the template produced more than {max_chars} characters")
                chunks.append(chunk)
                check_deadline()
            return "".join(chunks)
        except RenderError:
            raise
        except UndefinedError as exc:
            raise RenderError(f"missing variable: {exc.message}") from exc
        except SecurityError as exc:
            raise RenderError(f"refused by the template sandbox: {exc}") from exc
        except TemplateNotFound as exc:
            raise RenderError(f"no partial named {exc.name!r}") from exc
        except TemplateSyntaxError as exc:
            raise RenderError(f"template syntax error at line {exc.lineno}: {exc.message}") from exc
        except RecursionError as exc:
            raise RenderError("the template recursed too deeply") from exc
        except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError, OverflowError) as exc:
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


def render_version(version, *, context: Mapping[str, Any], layout=None) -> RenderedMessage:
    """One rendering service for every channel: the version's parts, the email text derived from the HTML when
    the version has none, then the layout around each part. One time budget covers all of it."""
    with render_budget():
        subject = " ".join(_render_part(version.subject, context, html=False).split())
        html = _render_part(version.html, context, html=True)
        text = _render_part(version.text, context, html=False) if version.text else html_to_text(html)
        if layout is not None:
            if layout.html and html:
                content = Markup(html)  # noqa: S704 (the sandbox's own autoescaped output, not input)
                html = _render_part(layout.html, {**context, "content": content, "subject": subject}, html=True)
            if layout.text and text:
                text = _render_part(layout.text, {**context, "content": text, "subject": subject}, html=False)
        title = " ".join(_render_part(version.title, context, html=False).split()) if version.title else ""
        action_url = _render_part(version.action_url, context, html=False).strip() if version.action_url else ""
        label = (
            " ".join(_render_part(version.action_label, context, html=False).split()) if version.action_label else ""
        )
        return RenderedMessage(
            subject=subject, body=text, html=html, title=title, action_url=action_url, action_label=label
        )


# --- HTML to text -------------------------------------------------------------------------------------


class _TextExtractor(HTMLParser):
    _BLOCK = frozenset({"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "ul", "ol", "section"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._links: list[str | None] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head", "title"):
            self._skip += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in self._BLOCK:
            self.out.append("\n\n")
        elif tag == "a":
            self._links.append(dict(attrs).get("href"))

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head", "title"):
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK:
            self.out.append("\n\n")
        elif tag == "a" and self._links:
            href = self._links.pop()
            if href and not href.startswith(("#", "mailto:")):
                self.out.append(f" ({href})")

    def handle_data(self, data):
        if not self._skip:
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """A readable plain-text part from an HTML one: paragraphs, line breaks, list items, links as (url)."""
    if not html:
        return ""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.out)
    lines = [line.strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


# --- variables a template needs ------------------------------------------------------------------------


def _expression_path(node: nodes.Node) -> str | None:
    """`recipient.attributes.first_name` (or `x`) as a dotted string, for a name and its attribute/key chain."""
    parts: list[str] = []
    while isinstance(node, (nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            parts.append(node.arg.value)
        else:
            return None
        node = node.node
    if not isinstance(node, nodes.Name):
        return None
    return ".".join([node.name, *reversed(parts)])


def _names_proven_defined(test: nodes.Node) -> set[str]:
    """What an `{% if %}` test proves defined: `x is defined` or `a.b.c is defined`, also inside `... and ...`."""
    if isinstance(test, nodes.Test) and test.name == "defined":
        path = _expression_path(test.node)
        return {path} if path else set()
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
        ast = parsed(source)
    except TemplateSyntaxError as exc:
        raise TemplateSyntaxProblem(f"line {exc.lineno}: {exc.message}") from exc
    free = meta.find_undeclared_variables(ast) - RESERVED_NAMES
    visited: list[tuple[nodes.Node, nodes.Node | None, frozenset[str]]] = []
    _walk(ast, None, frozenset(), visited)
    parents = {id(child): parent for child, parent, _ in visited}
    paths: set[tuple[str, ...]] = set()
    for node, _parent, guarded in visited:
        if not (isinstance(node, nodes.Name) and node.ctx == "load" and node.name in free):
            continue
        if node.name not in guarded and not _is_optional_use(node, parents):
            paths.add(_path_of(node, parents))
    return frozenset(paths)


_DICT_METHODS = frozenset({"get", "items", "keys", "values"})


@lru_cache(maxsize=1024)
def unguarded_recipient_attributes(source: str) -> frozenset[str]:
    """`recipient.attributes.<name>` read without `|default(...)` or an `is defined` guard: rendering fails for
    every recipient who lacks that attribute, so such a template must not be saved."""
    if not source:
        return frozenset()
    visited: list[tuple[nodes.Node, nodes.Node | None, frozenset[str]]] = []
    _walk(parsed(source), None, frozenset(), visited)
    parents = {id(child): parent for child, parent, _ in visited}
    found = set()
    for node, _parent, guarded in visited:
        if not (isinstance(node, nodes.Name) and node.name == "recipient" and node.ctx == "load"):
            continue
        path = _path_of(node, parents)
        if len(path) < 3 or path[1] != "attributes" or path[2] in _DICT_METHODS:
            continue
        dotted = ".".join(path[:3])
        if dotted not in guarded and ".".join(path) not in guarded and not _is_optional_use(node, parents):
            found.add(dotted)
    return frozenset(found)


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
