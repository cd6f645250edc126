"""Text as every edge of commhub checks it (kept free of Django imports: the parser and authentication use it)."""

from __future__ import annotations


def unstorable(text: str) -> bool:
    """Text no database column can hold: a NUL character (PostgreSQL refuses it) or an unpaired surrogate
    (not Unicode; nothing can encode it)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
