"""The request parser every API view uses (settings' DEFAULT_PARSER_CLASSES). Its own module, importing nothing
of commhub's: DRF imports it while DRF itself is still loading."""

from __future__ import annotations

import io
import re
from typing import Any

from django.conf import settings
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
        raw = stream.read() if stream is not None else b""
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(f"JSON parse error - nests more than {MAX_JSON_DEPTH} levels deep") from exc
        # The walk that names where a problem is costs a thousand-item batch more than its parse: in UTF-8 a
        # surrogate can only come from a \uD800-\uDFFF escape, so the walk runs only when the text has one
        # (or another charset was declared) or the containers nest deeper than allowed.
        encoding = ((parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET).lower().replace("_", "-")
        if encoding not in ("utf-8", "utf8") or _SURROGATE_ESCAPE.search(raw) or _deeper_than(data, MAX_JSON_DEPTH):
            problem = _json_problem(data, "", 0)
            if problem:  # the path may hold the very surrogate it names: shown escaped, or the answer fails too
                printable = problem.encode("utf-8", "backslashreplace").decode("utf-8")
                raise ParseError(f"JSON parse error - {printable}.")
        return data


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether a container sits `limit` or more levels below `value` (then the exact walk decides: a non-empty
    one at MAX_JSON_DEPTH holds a value too deep). Scalars are not walked into."""
    if isinstance(value, dict):
        items: Any = value.values()
    elif isinstance(value, list):
        items = value
    else:
        return False
    if limit <= 0:
        return True
    return any(isinstance(item, dict | list) and _deeper_than(item, limit - 1) for item in items)
