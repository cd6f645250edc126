"""ISO 4217 currency codes (pycountry's table) for prices and budgets: a typo such as "dollars" is refused,
not truncated to "dol"."""

from __future__ import annotations

from functools import cache

import pycountry

# Codes in ISO 4217 that are not money (precious metals, funds, testing).
_NOT_MONEY = frozenset({"XAG", "XAU", "XPD", "XPT", "XTS", "XXX", "XDR", "XSU", "XUA", "XBA", "XBB", "XBC", "XBD"})


@cache
def currency_choices() -> list[tuple[str, str]]:
    """(code, "USD - US Dollar") for every currency, by code (for model and form fields)."""
    money = [c for c in pycountry.currencies if c.alpha_3 not in _NOT_MONEY]
    return sorted((c.alpha_3, f"{c.alpha_3} - {c.name}") for c in money)
