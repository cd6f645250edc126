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


def nesting_problem(source: str) -> str | None:
    """Where `source` nests deeper than MAX_NESTING (read from the lexer's tokens, which do not recurse), or
    None. Parsing and compiling such a template would exhaust the interpreter's stack."""
    depth = blocks = pipes = 0
    tag: list[tuple[str, str]] = []
    for lineno, kind, value in _parser.lex(source):
        if kind == "block_begin":
            tag, pipes = [], 0
        elif kind == "block_end":
            words = [v for k, v in tag if k == "name"]
            first = words[0] if words else ""
            assigns = any(k == "operator" and v == "=" for k, v in tag)
            if first in _BLOCK_TAGS and not (first == "set" and assigns):
                blocks += 1
            elif first.startswith("end"):
                blocks -= 1
            if blocks > MAX_NESTING:
                return f"line {lineno}: blocks nest more than {MAX_NESTING} deep"
        elif kind in ("variable_begin", "variable_end"):
            tag, pipes = [], 0
        else:
            tag.append((kind, value))
            if kind == "operator" and value in _OPENERS:
                depth += 1
            elif kind == "operator" and value in _CLOSERS:
                depth -= 1
            pipes += kind == "operator" and value == "|"
            if depth > MAX_NESTING or pipes > MAX_NESTING:
                return f"line {lineno}: an expression nests more than {MAX_NESTING} deep"
    return None


def refuse_deep_nesting(source: str) -> None:
    """A TemplateSyntaxError when `source` nests deeper than MAX_NESTING."""
    problem = nesting_problem(source)
    if problem is not None:
        where, message = problem.split(": ", 1)
        raise TemplateSyntaxError(message, int(where.split()[1]))


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
