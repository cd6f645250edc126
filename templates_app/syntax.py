"""Parsing staff-written template sources: syntax checks and the parse tree variable analysis reads.

Apart from rendering (rendering.py) so that models can check a source's syntax in `clean()` without
importing the renderer, which reads partials through the selectors, which read the models.
"""

from __future__ import annotations

from functools import lru_cache

from jinja2 import TemplateSyntaxError, nodes

from .limits import BoundedSandbox


class _ParseOnly(BoundedSandbox):
    """Parses (never renders). With the renderer's bounds, because analysing a parse tree compiles it, and the
    compiler folds constants: unbounded, it would compute `2 ** 1000000` or `[1]|batch(25000000)` itself."""


_parser = _ParseOnly()


class TemplateSyntaxProblem(ValueError):
    """The template source does not parse."""


MAX_NESTING = 40  # brackets, blocks and filters inside one another; Jinja parses and compiles recursively
_OPENERS, _CLOSERS = frozenset("([{"), frozenset(")]}")
_BLOCK_TAGS = frozenset({"if", "for", "macro", "call", "filter", "with", "block", "autoescape", "trans", "set"})


def refuse_deep_nesting(source: str) -> None:
    """A TemplateSyntaxError when `source` nests deeper than MAX_NESTING: brackets, blocks or filters inside one
    another (read from the lexer's tokens, which do not recurse; parsing and compiling such a template would
    exhaust the interpreter's stack)."""
    depth = blocks = pipes = 0
    first_name, assigns = "", False  # of the block tag being read
    for lineno, kind, value in _parser.lex(source):
        if kind in ("block_begin", "variable_begin"):
            first_name, assigns, pipes = "", False, 0
        elif kind == "block_end":
            if first_name in _BLOCK_TAGS and not (first_name == "set" and assigns):  # `{% set x = 1 %}` has no end
                blocks += 1
            elif first_name.startswith("end"):
                blocks -= 1
            if blocks > MAX_NESTING:
                raise TemplateSyntaxError(f"blocks nest more than {MAX_NESTING} deep", lineno)
        elif kind == "name" and not first_name:
            first_name = value
        elif kind == "operator":
            depth += (value in _OPENERS) - (value in _CLOSERS)
            pipes += value == "|"
            assigns = assigns or value == "="
            if depth > MAX_NESTING or pipes > MAX_NESTING:
                raise TemplateSyntaxError(f"an expression nests more than {MAX_NESTING} deep", lineno)


@lru_cache(maxsize=2048)
def parsed(source: str) -> nodes.Template:
    """The AST of `source` (cached: validation, variable analysis and previews parse the same sources often).
    Callers only read it. A source that nests too deeply is a TemplateSyntaxError, like any other that does
    not parse."""
    refuse_deep_nesting(source)
    try:
        return _parser.parse(source)
    except RecursionError as exc:
        raise TemplateSyntaxError("the template nests too deeply", 1) from exc


def check_syntax(source: str) -> None:
    if not source:
        return
    try:
        parsed(source)
    except TemplateSyntaxError as exc:
        raise TemplateSyntaxProblem(f"line {exc.lineno}: {exc.message}") from exc
