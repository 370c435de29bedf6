"""The signature scheme (Stripe's, also used by wildmail's own webhook) and money parsing."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from donations import money, webhooks

NOW = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)
SECRET = "whsec_0123456789abcdefghijklmnopqrstuv"
BODY = b'{"id": "evt_1", "type": "checkout.session.completed"}'


def _header(t: int, *macs: str) -> str:
    return ",".join([f"t={t}", *(f"v1={m}" for m in macs), "v0=ignored"])


def test_the_documented_scheme_verifies_and_anything_else_is_refused():
    t = int(NOW.timestamp())
    good = hmac.new(SECRET.encode(), f"{t}.".encode() + BODY, hashlib.sha256).hexdigest()
    webhooks.verify(_header(t, good), BODY, SECRET, NOW)
    webhooks.verify(_header(t, "0" * 64, good), BODY, SECRET, NOW)  # one v1 per secret while rolling it
    assert webhooks.sign(SECRET, BODY, t) == f"t={t},v1={good}"
    for header, now in [
        (_header(t, "0" * 64), NOW),  # wrong signature
        (_header(t, good.upper()), NOW),  # not the hex Stripe sends
        (_header(t + 1, good), NOW),  # the time is signed too
        (_header(t, good), NOW + timedelta(minutes=5, seconds=1)),  # stale
        (_header(t, good), NOW - timedelta(minutes=5, seconds=1)),  # from the future
        (f"v1={good}", NOW),  # no timestamp
        (f"t={t}", NOW),  # no signature
        ("t=99999999999999999999,v1=00", NOW),
        ("", NOW),
        ("t=é,v1=é", NOW),
    ]:
        with pytest.raises(webhooks.Refused):
            webhooks.verify(header, BODY, SECRET, now)
    with pytest.raises(webhooks.Refused):
        webhooks.verify(_header(t, good), BODY + b" ", SECRET, NOW)  # the body as received, byte for byte
    with pytest.raises(webhooks.NotConfigured):
        webhooks.verify(_header(t, good), BODY, "", NOW)


def test_amounts_in_minor_units_per_iso_4217():
    assert money.minor_units("25", "EUR") == 2500
    assert money.minor_units(" 25.5 ", "EUR") == 2550
    assert money.minor_units("1000", "JPY") == 1000
    assert money.minor_units("1.234", "KWD") == 1234
    assert money.minor_units("1500.50", "IDR") == 150050  # ISO 4217 gives IDR two decimals (CLDR none)
    for text, code in [
        ("1.5", "JPY"),
        ("1,5", "EUR"),
        ("-3", "EUR"),
        ("0.00", "EUR"),
        ("", "EUR"),
        ("1e3", "EUR"),
    ]:
        with pytest.raises(money.MoneyError):
            money.minor_units(text, code)
    assert money.currency(" gbp ") == "GBP"
    for code in ("DEM", "XYZ", "EU", "€"):
        with pytest.raises(money.MoneyError):
            money.currency(code)
    assert [money.shown(2550, "EUR"), money.shown(1000, "JPY"), money.shown(1234, "KWD")] == [
        "25.50 EUR",
        "1000 JPY",
        "1.234 KWD",
    ]
