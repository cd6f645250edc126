"""Parsing staff-written template sources: syntax checks and the parse tree variable analysis reads.

Apart from rendering (rendering.py) so that models can check a source's syntax in `clean()` without
importing the renderer, which reads partials through the selectors, which read the models.
"""

from __future__ import annotations

from functools import lru_cache

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment


class _ParseOnly(ImmutableSandboxedEnvironment):
    """Parses (never renders). Sandboxed with the renderer's intercepted operators, because analysing a parse
    tree compiles it, and an unsandboxed compiler would fold `2 ** 1000000` into a constant."""

    intercepted_binops = frozenset({"*", "**"})


_parser = _ParseOnly()


class TemplateSyntaxProblem(ValueError):
    """The template source does not parse."""


@lru_cache(maxsize=2048)
def parsed(source: str) -> nodes.Template:
    """The AST of `source` (cached: validation, variable analysis and previews parse the same sources often).
    Callers only read it."""
    return _parser.parse(source)


def check_syntax(source: str) -> None:
    if not source:
        return
    try:
        parsed(source)
    except TemplateSyntaxError as exc:
        raise TemplateSyntaxProblem(f"line {exc.lineno}: {exc.message}") from exc
