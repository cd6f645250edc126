"""The JSON every endpoint reads: an unpaired surrogate or nesting deeper than MAX_JSON_DEPTH is a 400 naming
where, and the walk that finds where only runs when the raw text could hold either."""

from __future__ import annotations

import io
import json

import pytest
from rest_framework.exceptions import ParseError

from commhub.parsers import MAX_JSON_DEPTH, StrictJSONParser


def parse(raw: bytes, encoding: str = "utf-8"):
    return StrictJSONParser().parse(io.BytesIO(raw), "application/json", {"encoding": encoding})


def nested(depth: int) -> bytes:
    """A body whose innermost value sits `depth` levels down."""
    return ("[" * depth + "1" + "]" * depth).encode()


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (rb'{"data": {"note": "a\ud800b"}}', "data.note"),
        (rb'{"items": [{"x": 1}, {"\udc00key": 1}]}', "items[1]"),
        (rb'["ok", "\uDBFF"]', "[1]"),
    ],
)
def test_an_unpaired_surrogate_is_refused_naming_where(raw, where):
    with pytest.raises(ParseError, match="unpaired surrogate") as refused:
        parse(raw)
    assert where in str(refused.value.detail)


def test_a_surrogate_pair_is_a_character_and_passes():
    assert parse(rb'{"emoji": "\ud83d\ude00"}') == {"emoji": "\U0001f600"}


def test_nesting_deeper_than_the_limit_is_refused_and_the_limit_itself_passes():
    assert parse(nested(MAX_JSON_DEPTH)) == json.loads(nested(MAX_JSON_DEPTH))
    with pytest.raises(ParseError, match=f"nests more than {MAX_JSON_DEPTH}"):
        parse(nested(MAX_JSON_DEPTH + 1))
    # a deep empty container holds nothing too deep
    assert parse(("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)).encode())


def test_another_charset_is_always_walked():
    with pytest.raises(ParseError, match="unpaired surrogate"):
        parse('{"a": "\\ud800"}'.encode("utf-16"), encoding="utf-16")


def test_a_large_batch_of_plain_items_parses_as_json_does():
    body = json.dumps({"notifications": [{"recipient": str(i), "data": {"n": i, "é": "ü"}} for i in range(1000)]})
    assert parse(body.encode()) == json.loads(body)
