"""Locale tags as commhub reads them everywhere (recipients, templates, the API's schema)."""

from __future__ import annotations

import re

# BCP 47-style: en, pt-BR, zh-Hant-TW (an underscore is accepted and read as a hyphen)
LOCALE_PATTERN = r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$"
_LOCALE = re.compile(LOCALE_PATTERN)


def is_locale(value: object) -> bool:
    return isinstance(value, str) and bool(_LOCALE.match(value))
