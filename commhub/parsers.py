"""The request parser every API view uses (settings' DEFAULT_PARSER_CLASSES). Its own module, importing nothing
of commhub's: DRF imports it while DRF itself is still loading."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32


def _json_problem(value: Any, path: str, depth: int) -> str | None:
    """Where `value` holds text that is not Unicode (an unpaired surrogate) or nests too deeply."""
    if depth > MAX_JSON_DEPTH:
        return f"{path or 'the body'} nests more than {MAX_JSON_DEPTH} levels deep"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{path or 'the body'} contains an unpaired surrogate (not valid Unicode text)"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            problem = _json_problem(key, f"{where} (its name)", depth) or _json_problem(item, where, depth + 1)
            if problem:
                return problem
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problem = _json_problem(item, f"{path}[{index}]", depth + 1)
            if problem:
                return problem
    return None


class StrictJSONParser(JSONParser):
    """JSON as every commhub endpoint reads it: Unicode text (no unpaired surrogate, which nothing can encode)
    at most MAX_JSON_DEPTH levels deep. Anything else is a 400 naming where, never a 500 from the database.
    A NUL character is valid text that PostgreSQL cannot store: commhub.api.StrictInput refuses it in the
    fields an endpoint reads (one it ignores may hold anything)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(f"JSON parse error - nests more than {MAX_JSON_DEPTH} levels deep") from exc
        problem = _json_problem(data, "", 0)
        if problem:
            raise ParseError(f"JSON parse error - {problem}.")
        return data
