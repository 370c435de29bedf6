"""Currencies (ISO 4217) and amounts in minor units: validation, parsing and display.

Which codes are accepted comes from babel's CLDR data (the currencies legal tender somewhere
today, so "EUR" but not "DEM" or a typo). CLDR's own digit counts follow cash practice (it gives
0 for IDR and HUF), so the minor units are ISO 4217's: two decimals unless listed below.
Amounts are integers in minor units everywhere; different currencies are never added together.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel.core import get_global
from babel.numbers import get_territory_currencies

# ISO 4217 currencies whose minor unit is not 1/100 (the rest of those in use have two decimals).
_EXPONENTS = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}
_CODE = re.compile(r"[A-Za-z]{3}")
_DECIMAL = re.compile(r"\d{1,15}(?:\.\d{1,4})?")


class MoneyError(ValueError):
    """A currency or amount is not acceptable; the message says why."""


@lru_cache(maxsize=1)
def currencies_in_use() -> frozenset[str]:
    """Every ISO 4217 code that is legal tender in some territory today (CLDR, through babel)."""
    found: set[str] = set()
    today = date.today()
    for territory in get_global("territory_currencies"):
        found.update(get_territory_currencies(territory, today, tender=True))
    return frozenset(found)


def currency(raw: str) -> str:
    """The ISO 4217 code of ``raw`` (any case, spaces around allowed), or :class:`MoneyError`."""
    code = raw.strip().upper() if isinstance(raw, str) else ""
    if not _CODE.fullmatch(code):
        raise MoneyError(f"{str(raw)[:20]!r} is not a three-letter ISO 4217 currency code")
    if code not in currencies_in_use():
        raise MoneyError(f"{code!r} is not a currency in use (ISO 4217)")
    return code


def exponent(code: str) -> int:
    """Decimal places of ``code``'s minor unit (2 for EUR, 0 for JPY, 3 for KWD)."""
    return _EXPONENTS.get(code, 2)


def minor_units(text: str, code: str) -> int:
    """A decimal amount as written by people (``25``, ``25.5``, ``25.50``) in minor units of
    ``code``; more decimals than the currency has, a sign, or anything else is an error."""
    value = text.strip()
    if not _DECIMAL.fullmatch(value):
        raise MoneyError(f"{value[:30]!r} is not an amount like 25 or 25.00")
    places = exponent(code)
    try:
        scaled = Decimal(value).scaleb(places)
    except InvalidOperation:
        raise MoneyError(f"{value[:30]!r} is not an amount like 25 or 25.00") from None
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{value!r} has more than {places} decimals, which {code} does not have")
    if scaled <= 0:
        raise MoneyError("the amount must be above 0")
    return int(scaled)


def major(amount: int, code: str) -> str:
    """``amount`` minor units as a plain decimal string (``2500`` EUR -> ``25.00``), exact."""
    places = exponent(code)
    return f"{Decimal(amount).scaleb(-places):.{places}f}"


def shown(amount: int, code: str) -> str:
    """For people: ``25.00 EUR``."""
    return f"{major(amount, code)} {code}"
