"""The sandbox's resource bounds: how long a render may run and how much text it may build.

A time limit checked only between operations does not stop one operation that runs for seconds
(`[1]|slice(25000000)`, a nested `**`), and an output cap checked as the output streams does not stop a value
built in memory first (`'x'.ljust(10**9)`, `replace`, `format` widths, doubling with `~`, a `{% set %}` block).
So every operation that can build a large value is bounded *before* it allocates:

* a single value may not exceed the output cap (COMMHUB_TEMPLATE_MAX_OUTPUT_CHARS), and everything one render
  builds along the way (operators, concatenations, filters, string methods, captured blocks) may not exceed
  BUILT_FACTOR times it;
* integers may not grow past MAX_INT_BITS (a product or a power of huge integers takes seconds);
* sizes given to filters and string methods (widths, counts, lengths) are refused above the cap.

Chosen over rendering in a separate, killable process: every message is rendered on the send path, and a
process hop per render would cost more than the render; these checks cost a comparison per operation.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import concat
from markupsafe import Markup, soft_str

MAX_RANGE = 10_000  # items one range() may produce (Jinja's own sandbox allows 100,000)
MAX_SEQUENCE = 100_000  # characters or items a `*` may build
MAX_POWER = 64
MAX_INT_BITS = 4096  # about 1,233 decimal digits: more than any amount, far less than a slow multiplication
BUILT_FACTOR = 10  # everything one render builds, as a multiple of the output cap
MAX_JSON_INDENT = 16


class RenderError(ValueError):
    """Rendering failed: a missing variable, a refused operation, or a runtime error in the template."""


class RenderBudgetExceeded(RenderError):
    """The template ran past its time limit or produced more output than allowed."""


_budget = threading.local()


def start(*, seconds: float, max_chars: int) -> bool:
    """Open a render's budget unless one is open (then the outer one covers this render too)."""
    if getattr(_budget, "deadline", None) is not None:
        return False
    _budget.seconds, _budget.max_chars = seconds, max_chars
    _budget.deadline = time.monotonic() + seconds
    _budget.built = 0
    return True


def stop() -> None:
    _budget.deadline = None


def max_chars() -> int:
    return getattr(_budget, "max_chars", 500_000)


def check_deadline() -> None:
    deadline = getattr(_budget, "deadline", None)
    if deadline is not None and time.monotonic() > deadline:
        raise RenderBudgetExceeded(f"the template ran past its time limit ({_budget.seconds:g}s)")


def charge(size: int, what: str = "a value") -> None:
    """Account for `size` characters about to be built; refuse them when one value or the render's total
    would exceed its bound."""
    cap = max_chars()
    if size > cap:
        raise RenderBudgetExceeded(f"{what} would be {size} characters, more than the {cap} allowed")
    if getattr(_budget, "deadline", None) is None:
        return  # outside a render (the compiler folding a constant): no render's total to add to
    _budget.built += size
    if _budget.built > cap * BUILT_FACTOR:
        raise RenderBudgetExceeded(f"the template built more than {cap * BUILT_FACTOR} characters")
    check_deadline()


def _size_arg(value: Any, what: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > max_chars():
        raise SecurityError(f"{what} {value} is larger than the output cap ({max_chars()})")


def _text_len(value: Any) -> int:
    return len(value) if isinstance(value, str) else len(soft_str(value))


# The widths and precisions a format string asks for: printf style (`%-100000s`, `%.5f`, `%*s`) and str.format
# style (`{:>100000}`, `{0:.3f}`). Digits elsewhere in the text (an account number) are not sizes.
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\d+|\*)?(?:\.(\d+|\*))?[hlL]?[diouxXeEfFgGcrsa%]")
_BRACE_SPEC = re.compile(r"\{[^{}]*?:([^{}]*)\}")
_SPEC_NUMBER = re.compile(r"\d+")


def _format_estimate(template: str, values: Any) -> int:
    """An upper bound of what formatting `template` with `values` builds: each field at most the longest value,
    or the widest width or precision it asks for (a `*` takes its size from the values)."""
    sizes = [0]
    for match in _PERCENT_SPEC.finditer(template):
        sizes += [int(n) if n != "*" else _largest_int(values) for n in match.groups() if n]
    for spec in _BRACE_SPEC.findall(template):
        sizes += [int(n) if len(n) < 12 else max_chars() + 1 for n in _SPEC_NUMBER.findall(spec)]
    if max(sizes) > max_chars():
        raise SecurityError("a format width or precision is larger than the output cap")
    longest = max((_text_len(v) for v in values), default=0)
    fields = template.count("{") + template.count("%")
    return len(template) + fields * max(longest, max(sizes))


def _largest_int(values: Any) -> int:
    return max((abs(v) for v in values if isinstance(v, int) and not isinstance(v, bool)), default=0)


def _format_values(args: Any) -> list[Any]:
    if isinstance(args, dict):
        return list(args.values())
    return list(args) if isinstance(args, tuple | list) else [args]


def _replace_estimate(text: str, old: str, new: str) -> int:
    matches = len(text) + 1 if not old else text.count(old)
    return len(text) + matches * max(0, len(new) - len(old))


# --- string methods and filters that size their output by an argument ----------------------------------


def method_guard(owner: Any, name: str, args: tuple, kwargs: dict) -> tuple:
    """Check a call of a str / bytes / int method before it runs; returns the arguments to call it with."""
    for value in (*args, *kwargs.values()):
        _size_arg(value, f"the argument of {name}()")
    if name == "join" and args:
        items = list(args[0])  # materialised once: a generator is read here and handed on as a list
        charge(sum(_text_len(i) for i in items) + len(owner) * len(items), "join()")
        return (items, *args[1:])
    if name == "replace" and len(args) >= 2 and isinstance(owner, str):
        charge(_replace_estimate(owner, str(args[0]), str(args[1])), "replace()")
    elif name in ("format", "format_map") and isinstance(owner, str):
        charge(_format_estimate(owner, [*args, *kwargs.values()]), "format()")
    return args


def _bounded_filter(name: str, func: Callable) -> Callable:
    """`func` (a Jinja filter) with its sizes checked before it runs and its result counted after."""
    passes = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        value, rest = (args[passes] if len(args) > passes else None), args[passes + 1 :]
        _FILTER_CHECKS[name](value, rest, kwargs)
        result = func(*args, **kwargs)
        if isinstance(result, str):
            charge(len(result), f"the {name} filter's output")
        return result

    return bounded


def _first(rest: tuple, kwargs: dict, key: str, default: Any = None) -> Any:
    return rest[0] if rest else kwargs.get(key, default)


def _check_center(value: Any, rest: tuple, kwargs: dict) -> None:
    width = _first(rest, kwargs, "width", 80)
    _size_arg(width, "a width")
    charge(max(_text_len(value), width if isinstance(width, int) else 0), "center()")


def _check_indent(value: Any, rest: tuple, kwargs: dict) -> None:
    width = _first(rest, kwargs, "width", 4)
    _size_arg(width, "a width")
    per_line = width if isinstance(width, int) else len(soft_str(width))  # indent() takes a string too
    charge(_text_len(value) + max(per_line, 0) * (soft_str(value).count("\n") + 1), "indent()")


def _check_wordwrap(value: Any, rest: tuple, kwargs: dict) -> None:
    width = _first(rest, kwargs, "width", 79)
    _size_arg(width, "a width")
    wrap = rest[2] if len(rest) > 2 else kwargs.get("wrapstring") or "\n"
    lines = _text_len(value) // max(1, width if isinstance(width, int) else 1) + 1
    charge(_text_len(value) + lines * len(str(wrap)), "wordwrap()")


def _check_count(value: Any, rest: tuple, kwargs: dict) -> None:
    for item in (*rest, *kwargs.values()):
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_SEQUENCE:
            raise SecurityError(f"a count of {item} is more than the {MAX_SEQUENCE} allowed")


def _check_replace(value: Any, rest: tuple, kwargs: dict) -> None:
    if len(rest) >= 2:
        charge(_replace_estimate(soft_str(value), soft_str(rest[0]), soft_str(rest[1])), "replace()")


def _check_format(value: Any, rest: tuple, kwargs: dict) -> None:
    charge(_format_estimate(soft_str(value), [*rest, *kwargs.values()]), "format()")


def _check_tojson(value: Any, rest: tuple, kwargs: dict) -> None:
    indent = _first(rest, kwargs, "indent")
    if isinstance(indent, int) and indent > MAX_JSON_INDENT:
        raise SecurityError(f"tojson's indent {indent} is more than {MAX_JSON_INDENT}")


def _check_truncate(value: Any, rest: tuple, kwargs: dict) -> None:
    _size_arg(_first(rest, kwargs, "length"), "a length")
    end = rest[2] if len(rest) > 2 else kwargs.get("end", "...")
    charge(_text_len(value) + len(str(end)), "truncate()")


_FILTER_CHECKS: dict[str, Callable[[Any, tuple, dict], None]] = {
    "center": _check_center,
    "indent": _check_indent,
    "wordwrap": _check_wordwrap,
    "truncate": _check_truncate,
    "slice": _check_count,
    "batch": _check_count,
    "replace": _check_replace,
    "format": _check_format,
    "tojson": _check_tojson,
}


def bound_filters(filters: dict[str, Callable]) -> None:
    for name in _FILTER_CHECKS:
        if name in filters:
            filters[name] = _bounded_filter(name, filters[name])
    if "join" in filters:
        filters["join"] = _bounded_join_filter(filters["join"])


def _bounded_join_filter(func: Callable) -> Callable:
    @functools.wraps(func)
    def join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
        items = list(value)
        charge(sum(_text_len(i) for i in items) + len(soft_str(d)) * len(items), "join()")
        return func(eval_ctx, items, d, attribute)

    return join


# --- operators, concatenation and captured blocks ------------------------------------------------------


def binop_guard(operator: str, left: Any, right: Any) -> None:
    """Check `left <operator> right` before it runs."""
    check_deadline()
    ints = isinstance(left, int) and isinstance(right, int)
    if operator == "**" and isinstance(right, int | float):
        if abs(right) > MAX_POWER:
            raise SecurityError(f"exponent {right} is larger than {MAX_POWER}")
        if isinstance(left, int) and isinstance(right, int) and right > 0 and left.bit_length() * right > MAX_INT_BITS:
            raise SecurityError(f"that `**` would build an integer of more than {MAX_INT_BITS} bits")
    elif operator == "*":
        if ints and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise SecurityError(f"that `*` would build an integer of more than {MAX_INT_BITS} bits")
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(times, int):
                if len(seq) * times > MAX_SEQUENCE:
                    raise SecurityError(f"that `*` would build {len(seq) * times} items, more than {MAX_SEQUENCE}")
                if isinstance(seq, str):
                    charge(len(seq) * max(times, 0), "that `*`")
    elif operator == "+" and isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
        charge(len(left) + len(right), "that `+`")
    elif operator == "%" and isinstance(left, str):
        charge(_format_estimate(left, _format_values(right)), "that `%`")


def bounded_join(items: tuple, markup: bool) -> str:
    """`a ~ b ~ c` (Jinja's str_join / markup_join), its size checked before the result is built."""
    texts = [soft_str(i) for i in items]
    charge(sum(len(t) for t in texts), "that `~`")
    if markup and any(hasattr(i, "__html__") for i in items):
        return Markup("").join(items)
    return concat(texts)


class BoundedBuffer(list):
    """The list a `{% set %}`, `{% filter %}`, `{% call %}` or macro body collects its output in: counted as
    it grows, so a captured loop cannot build gigabytes before anything streams."""

    def append(self, item: Any) -> None:
        charge(_text_len(item), "a captured block")
        super().append(item)

    def extend(self, items: Any) -> None:
        items = tuple(items)
        charge(sum(_text_len(i) for i in items), "a captured block")
        super().extend(items)


class BoundedCodeGenerator(CodeGenerator):
    """Jinja's compiler, with concatenations and capture buffers going through the bounds above."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.bounded_buffer()")

    def visit_Concat(self, node: Any, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            markup = "context.eval_ctx.volatile"
        else:
            markup = "True" if frame.eval_ctx.autoescape else "False"
        self.write("environment.bounded_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(f"), {markup})")


def bounded_range(*args: int) -> Iterator[int]:
    """range() that is short and keeps an eye on the clock: a loop of loops cannot run for minutes."""
    values = range(*args)
    if len(values) > MAX_RANGE:
        raise SecurityError(f"range() of {len(values)} items is more than the {MAX_RANGE} allowed")
    for index, value in enumerate(values):
        if index % 256 == 0:
            check_deadline()
        yield value


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with every bound above: operators, calls of str / bytes / int methods,
    filters, concatenation and captured blocks."""

    code_generator_class = BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        bound_filters(self.filters)
        self.globals["range"] = bounded_range

    def make_globals(self, d: Any = None) -> Any:
        """A plain dict, not Jinja's ChainMap over the environment's globals: every render iterates a template's
        globals (twice per include), and a ChainMap iterates slowly. These environments' globals are complete
        once constructed, before any template is made, and never change."""
        return {**self.globals, **(d or {})}

    @staticmethod
    def bounded_buffer() -> BoundedBuffer:
        return BoundedBuffer()

    @staticmethod
    def bounded_join(items: tuple, markup: bool) -> str:
        return bounded_join(items, markup)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        binop_guard(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        check_deadline()
        # str.format comes wrapped by the sandbox's getattr (Jinja 3.1.5+): its owner is on the wrapped method
        owner = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        if isinstance(owner, str | bytes | int) and not isinstance(owner, bool):
            args = method_guard(owner, getattr(__obj, "__name__", "?"), args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, str | bytes) and not isinstance(__obj, Macro):  # a macro's buffer counted it already
            charge(len(result), "a call's result")
        return result
