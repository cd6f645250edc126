"""Rule expressions in CEL (Common Expression Language, cel-python): small, side-effect free, not Turing
complete, no access to Python. A program is compiled once per rule version and kept; evaluating one takes a
fraction of a millisecond. What can go wrong (a syntax error at save, a missing field or a division by zero at
evaluation) is an ExpressionError with a readable message, recorded on the rule's run, never raised to a caller.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import celpy
from celpy import celtypes

from .models import MAX_EXPRESSION


class ExpressionError(Exception):
    pass


_ENVIRONMENT = celpy.Environment()


@functools.lru_cache(maxsize=2048)
def program(source: str) -> Any:
    """The compiled program of `source` (raises ExpressionError naming the problem)."""
    if len(source) > MAX_EXPRESSION:
        raise ExpressionError(f"an expression is at most {MAX_EXPRESSION} characters")
    try:
        return _ENVIRONMENT.program(_ENVIRONMENT.compile(source))
    except Exception as exc:
        raise ExpressionError(f"cannot parse {source!r}: {str(exc).splitlines()[0]}") from None


def activation(*, name: str, uid: str, occurred_at: datetime, actor: str, data: Mapping[str, Any]) -> dict:
    """What an expression sees: `event` and `data` (JSON values, as CEL types)."""
    event = {"name": name, "id": uid, "occurred_at": occurred_at.isoformat(), "actor": actor}
    return {"event": celpy.json_to_cel(event), "data": celpy.json_to_cel(json.loads(json.dumps(data, default=str)))}


def evaluate(source: str, context: dict) -> Any:
    """The value of `source` over `context`, as plain JSON values."""
    try:
        value = program(source).evaluate(context)
    except ExpressionError:
        raise
    except Exception as exc:
        detail = exc.args[0] if exc.args else exc
        raise ExpressionError(f"{source!r}: {detail}") from None
    if isinstance(value, Exception):  # cel-python can return an error value instead of raising
        raise ExpressionError(f"{source!r}: {value}")
    return plain(value)


def plain(value: Any) -> Any:
    """A CEL value as JSON: bool, int, float, str, list, dict, None."""
    if isinstance(value, celtypes.BoolType | bool):
        return bool(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType | int):
        return int(value)
    if isinstance(value, celtypes.DoubleType | float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return {str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if value is None or isinstance(value, celtypes.NullType):
        return None
    return str(value)


def check(source: str) -> None:
    """Raises ExpressionError when `source` does not parse (a rule version's save and publish)."""
    if source.strip():
        program(source)
