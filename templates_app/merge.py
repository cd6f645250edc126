"""Rendering once for many recipients: a version's output as shared text with per-recipient merge values.

An ESP that sends one API call to many recipients (Mailgun's batch sending, through anymail's `merge_data`)
substitutes each recipient's values into one shared message. That is only correct where every recipient's
rendered message equals the shared text with their values put in. This module establishes that from the
template's structure, never by hoping:

* A template qualifies when it is *linear* apart from `{% if %}`: its statements are text, `{{ expr }}`
  outputs, `{% if %}/{% elif %}/{% else %}` and `{% include %}` of a saved partial by name. Loops, `set`,
  macros, blocks and filter blocks disqualify it (their output can depend on values in ways a substitution
  cannot express).
* For one recipient, the branches taken (each `if` test evaluated, in order, exactly as the renderer would)
  form the recipient's *shape*. Recipients with the same shape get the same text between outputs.
* Each output expression becomes a *slot*. The shared text is rendered once per shape with every slot replaced
  by a sentinel. A recipient's shape and values come from one render of each part's *probe*: the same
  template with its static text dropped, a marker where each branch is taken and markers around each output,
  rendered by the same sandboxed environment with the recipient's own context (so the tests, filters,
  autoescaping and missing-variable errors are exactly the full render's). Expressions have no side effects
  in the immutable sandbox, so the probe decides and outputs what the template would.

The layout is planned the same way around the version's output; its bare `{{ content }}` is the shared
content itself (not a slot), and any other use of `content` disqualifies it. A subject is whitespace-folded
after rendering and a derived text part (no text part: text from the HTML) cannot be expressed as a
substitution: callers compare each recipient's substituted message with what the per-message path makes of
the same strings and send a recipient who differs on the per-message path (see `MergedRecipient.exact`).
Anything this module cannot plan returns None: the per-message path is always correct.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from markupsafe import Markup

from .limits import BoundedSandbox
from .rendering import (
    RenderedMessage,
    RenderError,
    _html_env,
    _limits,
    _text_env,
    render_budget,
    render_compiled,
)
from .selectors import partial_sources

_MAX_INCLUDE_DEPTH = 4
# Sentinels are letters and digits only (autoescaping leaves them alone) and carry a per-process nonce, so
# template text cannot contain one by accident (checked anyway).
_NONCE = secrets.token_hex(6)
SENTINEL = re.compile(rf"zq{_NONCE}s(\d+)qz")


def sentinel(slot: int) -> str:
    return f"zq{_NONCE}s{slot}qz"


class NotMergeable(Exception):
    """The template's structure cannot be expressed as shared text plus per-recipient values."""


@dataclass
class _Part:
    """One template source planned: the body with outputs replaced by sentinels, and what to evaluate."""

    env: BoundedSandbox
    shared: Any = None  # compiled: the body with each slot output replaced by its sentinel
    probe: Any = None  # compiled: only the branch taken at each `if` and each slot's value, between markers
    slots: dict[int, int] = field(default_factory=dict)  # id(expression node) -> slot number


@dataclass
class _Planner:
    slot_keys: dict[tuple[int, bool, str], int] = field(default_factory=dict)  # (env, layout?, expression) -> slot
    branches: int = 0  # `if` statements numbered across the plan (their markers name them)

    def plan(self, source: str, *, html: bool, layout: bool = False) -> _Part | None:
        if not source:
            return None
        env = _html_env if html else _text_env
        try:
            template = env.parse(source)
        except TemplateSyntaxError as exc:
            raise NotMergeable(f"syntax: {exc}") from exc
        body = self._inline(template.body, env, depth=0)
        part = _Part(env=env)
        part.shared = _compile(env, self._transform(body, part, layout=layout))
        part.probe = _compile(env, self._probe(body, part))
        return part

    def _inline(self, body: list[nodes.Node], env: BoundedSandbox, depth: int) -> list[nodes.Node]:
        out: list[nodes.Node] = []
        for node in body:
            if isinstance(node, nodes.Include):
                if not (isinstance(node.template, nodes.Const) and node.with_context and not node.ignore_missing):
                    raise NotMergeable("an include that is not a partial by name")
                source = partial_sources().get(node.template.value)
                if source is None or depth >= _MAX_INCLUDE_DEPTH:
                    raise NotMergeable("a missing or deeply nested partial")
                out.extend(self._inline(env.parse(source).body, env, depth + 1))
            elif isinstance(node, nodes.If):
                node = nodes.If(
                    node.test,
                    self._inline(node.body, env, depth),
                    [nodes.If(e.test, self._inline(e.body, env, depth), [], [], lineno=e.lineno) for e in node.elif_],
                    self._inline(node.else_, env, depth),
                    lineno=node.lineno,
                )
                out.append(node)
            elif isinstance(node, nodes.Output):
                out.append(node)
            else:
                raise NotMergeable(f"{type(node).__name__} statements")
        return out

    def _transform(self, body: list[nodes.Node], part: _Part, *, layout: bool) -> list[nodes.Node]:
        out: list[nodes.Node] = []
        for node in body:
            if isinstance(node, nodes.If):
                if layout and any(_mentions_content(branch.test) for branch in (node, *node.elif_)):
                    raise NotMergeable("a layout test on content")
                out.append(
                    nodes.If(
                        node.test,
                        self._transform(node.body, part, layout=layout),
                        [
                            nodes.If(e.test, self._transform(e.body, part, layout=layout), [], [], lineno=e.lineno)
                            for e in node.elif_
                        ],
                        self._transform(node.else_, part, layout=layout),
                        lineno=node.lineno,
                    )
                )
                continue
            children: list[nodes.Node] = []
            assert isinstance(node, nodes.Output)  # _inline keeps only If and Output
            for child in node.nodes:
                if isinstance(child, nodes.TemplateData):
                    if _NONCE in child.data:
                        raise NotMergeable("template text that contains a sentinel")
                    children.append(child)
                elif layout and isinstance(child, nodes.Name) and child.name == "content":
                    children.append(child)  # the shared content itself
                elif layout and _mentions_content(child):
                    raise NotMergeable("a layout expression on content")
                else:
                    slot = self._slot(child, part.env, layout=layout)
                    part.slots[id(child)] = slot
                    children.append(nodes.Const(sentinel(slot), lineno=child.lineno))
            out.append(nodes.Output(children, lineno=node.lineno))
        return out

    def _probe(self, body: list[nodes.Node], part: _Part) -> list[nodes.Node]:
        """The body as a probe: static text dropped, each branch taken announcing itself, each slot's output
        between markers. One render of it gives a recipient's shape and values exactly as the template would
        decide and output them (same tests, same expressions, same context, in the same order)."""
        out: list[nodes.Node] = []
        for node in body:
            if isinstance(node, nodes.If):
                number = self.branches
                self.branches += 1

                def announced(index: int, stmts: list[nodes.Node], number: int = number) -> list[nodes.Node]:
                    marker = nodes.Output([nodes.TemplateData(_branch_marker(number, index))])
                    return [marker, *self._probe(stmts, part)]

                out.append(
                    nodes.If(
                        node.test,
                        announced(0, node.body),
                        [
                            nodes.If(e.test, announced(i, e.body), [], [], lineno=e.lineno)
                            for i, e in enumerate(node.elif_, start=1)
                        ],
                        announced(-1, node.else_),
                        lineno=node.lineno,
                    )
                )
                continue
            assert isinstance(node, nodes.Output)
            children: list[nodes.Node] = []
            for child in node.nodes:
                slot = part.slots.get(id(child))
                if slot is not None:
                    children += [nodes.TemplateData(_slot_start(slot)), child, nodes.TemplateData(_SLOT_END)]
            if children:
                out.append(nodes.Output(children, lineno=node.lineno))
        return out

    def _slot(self, expression: nodes.Node, env: BoundedSandbox, *, layout: bool) -> int:
        # a layout sees another context (its `subject` is the rendered subject): its slots are its own
        key = (id(env), layout, repr(expression))
        slot = self.slot_keys.get(key)
        if slot is None:
            slot = self.slot_keys[key] = len(self.slot_keys)
        return slot


def _compile(env: BoundedSandbox, body: list[nodes.Node]) -> Any:
    tree = nodes.Template(body)
    tree.set_lineno(1, override=False)
    return env.from_string(tree)


# Probe markers: control characters around the per-process nonce, never produced by static text (there is none
# in a probe) and refused in values (a value containing the nonce is sent on the per-message path).
def _branch_marker(number: int, index: int) -> str:
    return f"\x1d{_NONCE}b{number}.{index}\x1f"


def _slot_start(slot: int) -> str:
    return f"\x1d{_NONCE}s{slot}\x1f"


_SLOT_END = f"\x1d{_NONCE}e\x1f"
_PROBE = re.compile(rf"\x1d{_NONCE}(?:b(\d+)\.(-?\d+)\x1f|s(\d+)\x1f(.*?)\x1d{_NONCE}e\x1f)", re.DOTALL)


def _mentions_content(node: nodes.Node) -> bool:
    return any(name.name == "content" for name in node.find_all(nodes.Name))


@dataclass(frozen=True)
class MergedRecipient:
    """One recipient's place in a group: their shape, their slot values, and their message as they get it."""

    shape: tuple
    values: dict[int, str]  # slot number -> rendered value
    subject: str
    body: str
    html: str
    shared: RenderedMessage  # the shared text of this recipient's shape (with the layout), with sentinels

    def exact(self, shared: RenderedMessage) -> bool:
        """Whether substituting this recipient's values into `shared` gives exactly their message."""
        return (
            substitute(shared.subject, self.values) == self.subject
            and substitute(shared.body, self.values) == self.body
            and substitute(shared.html, self.values) == self.html
        )


def slots_in(*texts: str) -> list[int]:
    """The slots whose sentinels appear in `texts`, in order."""
    return sorted({int(slot) for text in texts if text for slot in SENTINEL.findall(text)})


def substitute(text: str, values: Mapping[int, str]) -> str:
    """`text` with each sentinel replaced by its value (what the ESP does with its merge fields)."""
    return merge_field(text, values.__getitem__)


def merge_field(text: str, field_for: Any) -> str:
    """`text` with each sentinel written as the ESP's merge field (`field_for(slot)`, e.g. %recipient.m3%)."""
    return SENTINEL.sub(lambda m: field_for(int(m.group(1))), text) if text else text


class MergePlan:
    """A template version (with its layout) planned for batch sending; see the module docstring."""

    def __init__(self, version: Any, layout: Any) -> None:
        if not version.text and version.html:
            raise NotMergeable("a text part derived from the HTML")
        planner = _Planner()
        self.subject = planner.plan(version.subject, html=False)
        self.text = planner.plan(version.text, html=False)
        self.html = planner.plan(version.html, html=True)
        self.layout_text = planner.plan(layout.text, html=False, layout=True) if layout and layout.text else None
        self.layout_html = planner.plan(layout.html, html=True, layout=True) if layout and layout.html else None
        self._shared: dict[tuple, Any] = {}
        self.finished: dict[tuple, Any] = {}  # the channel's finish of a shared text (batch_merge.py caches it here)
        self._lock = threading.Lock()

    def recipient(self, context: Mapping[str, Any]) -> MergedRecipient:
        """This recipient's shape, values and full message (RenderError when their render would fail: the
        per-message path then records that failure). The message is built by substitution, so it costs a
        few small renders, not a full one; `shared` is the text everyone of the same shape shares."""
        _, max_chars = _limits()
        with render_budget():
            shape: list[tuple[int, int]] = []
            values: dict[int, str] = {}
            for part in (self.subject, self.text, self.html):
                if part is not None:
                    _read_probe(part, context, shape, values)
            version = self._version_shared(tuple(shape), context)
            raw_subject = substitute(version.raw_subject, values)
            subject = " ".join(raw_subject.split())
            text = substitute(version.text, values)
            html = substitute(version.html, values)
            if max(len(raw_subject), len(text), len(html)) > max_chars:
                raise RenderError(f"the template produced more than {max_chars} characters")
            layout_context = {**context, "subject": subject}
            for part in (self.layout_text, self.layout_html):
                if part is not None:
                    _read_probe(part, layout_context, shape, values)
            full = self._full_shared(tuple(shape), layout_context, version)
            # as render_version: the layout wraps a part only when the part rendered to something
            if self.layout_text is not None and text:
                text = substitute(full.body, values)
            if self.layout_html is not None and html:
                html = substitute(full.html, values)
        if max(len(text), len(html)) > max_chars:
            raise RenderError(f"the template produced more than {max_chars} characters")
        return MergedRecipient(shape=tuple(shape), values=values, subject=subject, body=text, html=html, shared=full)

    def _cached(self, key: tuple, make: Any) -> Any:
        found = self._shared.get(key)
        if found is None:
            found = make()
            with self._lock:
                if len(self._shared) > 128:  # shapes are few; a template that makes many is not worth caching
                    self._shared.clear()
                self._shared[key] = found
        return found

    def _version_shared(self, shape: tuple, context: Mapping[str, Any]) -> _VersionShared:
        """The version's parts for a shape, rendered once with the first context of that shape: its tests take
        the same branches for everyone of the shape, and its outputs are sentinels."""

        def make() -> _VersionShared:
            raw_subject = render_compiled(self.subject.shared, context) if self.subject else ""
            return _VersionShared(
                raw_subject=raw_subject,
                text=render_compiled(self.text.shared, context) if self.text else "",
                html=render_compiled(self.html.shared, context) if self.html else "",
            )

        return self._cached(("version", shape), make)

    def _full_shared(self, shape: tuple, layout_context: Mapping[str, Any], version: _VersionShared) -> RenderedMessage:
        """The whole message for a shape: the version's shared parts inside the layout (whose tests see this
        recipient's real subject, the same branch for everyone of the shape)."""

        def make() -> RenderedMessage:
            text, html = version.text, version.html
            if self.layout_text is not None and text:
                text = render_compiled(self.layout_text.shared, {**layout_context, "content": text})
            if self.layout_html is not None and html:
                content = Markup(html)  # noqa: S704 (our own sandboxed, autoescaped output)
                html = render_compiled(self.layout_html.shared, {**layout_context, "content": content})
            return RenderedMessage(subject=" ".join(version.raw_subject.split()), body=text, html=html)

        return self._cached(("full", shape), make)


def _read_probe(part: _Part, context: Mapping[str, Any], shape: list[tuple[int, int]], values: dict[int, str]) -> None:
    """Render a part's probe with this context: the branches it takes go to `shape`, slot values to `values`."""
    for match in _PROBE.finditer(render_compiled(part.probe, context)):
        number, index, slot, value = match.groups()
        if slot is None:
            shape.append((int(number), int(index)))
        elif _NONCE in value:
            raise NotMergeable("a value that contains a probe marker")
        else:
            values.setdefault(int(slot), value)


@dataclass(frozen=True)
class _VersionShared:
    raw_subject: str
    text: str
    html: str


_plans: dict[tuple, tuple[Any, MergePlan | None]] = {}
_plans_lock = threading.Lock()


def merge_plan(version: Any, layout: Any) -> MergePlan | None:
    """The plan for `version` in `layout`, or None when it cannot be batch-sent (cached per version, layout
    edit and partials snapshot)."""
    partials = partial_sources()
    key = (
        version.pk,
        version.subject,
        version.text,
        version.html,
        getattr(layout, "pk", None),
        getattr(layout, "html", None),
        getattr(layout, "text", None),
    )
    cached = _plans.get(key)
    if cached is not None and cached[0] is partials:
        return cached[1]
    try:
        plan: MergePlan | None = MergePlan(version, layout)
    except (NotMergeable, TemplateSyntaxError, RecursionError):
        plan = None
    with _plans_lock:
        if len(_plans) > 512:
            _plans.clear()
        _plans[key] = (partials, plan)
    return plan
