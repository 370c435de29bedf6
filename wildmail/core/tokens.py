"""The tracking URLs written into every message, and their parsing.

Paths: ``/o/<token>.gif`` (open), ``/c/<token>`` (click), ``/u/<token>`` (unsubscribe page and
RFC 8058 one-click POST), ``/v/<token>`` (an email's web version: per email, not per reader),
``/v/r/<token>`` (the web version of one delivery: the email as that reader got it).
Tokens carry ids only; destinations come from ``Link`` rows.
Depends on nothing but :mod:`wildmail.core.signing`, so delivery can build URLs without importing
the rest of tracking.
"""

from __future__ import annotations

from wildmail.core.signing import (
    BadToken,
    IntsVerifier,
    ints_verifier,
    sign_ints,
    sign_local,
    verify_ints,
    verify_local,
)

TEST_DELIVERY = 0  # the delivery id in the URLs of test sends and previews: nothing is recorded
OPEN = "open"
CLICK = "click"
UNSUBSCRIBE = "unsubscribe"
VIEW = "view"
READER_VIEW = "reader-view"  # a delivery's own web version (signs the delivery id, not the email's)
RETURN_PATH = "return-path"  # b-<token>@bounce domain: the envelope sender of one delivery
MAILTO = "mailto-unsubscribe"  # u-<token>@bounce domain: List-Unsubscribe by mail
ADDRESS_KINDS = {"b": RETURN_PATH, "u": MAILTO}

__all__ = [
    "BadToken",
    "click_url",
    "open_url",
    "open_verifier",
    "parse_address",
    "parse_click",
    "parse_reader_view",
    "parse_unsubscribe",
    "parse_view",
    "reader_view_url",
    "return_path",
    "unsubscribe_address",
    "unsubscribe_url",
    "view_url",
]


def open_url(base_url: str, key: bytes, delivery_id: int) -> str:
    """URL of the 1x1 open pixel for one delivery."""
    return f"{base_url}/o/{sign_ints(key, OPEN, delivery_id)}.gif"


def click_url(base_url: str, key: bytes, delivery_id: int, link_id: int) -> str:
    """URL that records a click on ``link_id`` then redirects to the link's stored URL."""
    return f"{base_url}/c/{sign_ints(key, CLICK, delivery_id, link_id)}"


def unsubscribe_url(base_url: str, key: bytes, delivery_id: int) -> str:
    """One-click unsubscribe URL (GET shows a page, POST unsubscribes)."""
    return f"{base_url}/u/{sign_ints(key, UNSUBSCRIBE, delivery_id)}"


def view_url(base_url: str, key: bytes, email_id: int) -> str:
    """The web version of an email (the "view in your browser" link; the same for every reader)."""
    return f"{base_url}/v/{sign_ints(key, VIEW, email_id)}"


def parse_view(key: bytes, token: str) -> int:
    """Email id of a web-version token; raises BadToken."""
    return verify_ints(key, VIEW, token, 1)[0]


def reader_view_url(base_url: str, key: bytes, delivery_id: int) -> str:
    """The "view in your browser" page of one delivery: the email as that reader received it."""
    return f"{base_url}/v/r/{sign_ints(key, READER_VIEW, delivery_id)}"


def parse_reader_view(key: bytes, token: str) -> int:
    """Delivery id of a reader's web-version token; raises BadToken."""
    return verify_ints(key, READER_VIEW, token, 1)[0]


def open_verifier(key: bytes) -> IntsVerifier:
    """The verifier of open tokens without their ``.gif`` suffix: ``(delivery_id,)`` or BadToken."""
    return ints_verifier(key, OPEN, 1)


def parse_click(key: bytes, token: str) -> tuple[int, int]:
    """(delivery id, link id) of a click token; raises BadToken."""
    delivery_id, link_id = verify_ints(key, CLICK, token, 2)
    return delivery_id, link_id


def parse_unsubscribe(key: bytes, token: str) -> int:
    """Delivery id of an unsubscribe token; raises BadToken."""
    return verify_ints(key, UNSUBSCRIBE, token, 1)[0]


def return_path(key: bytes, delivery_id: int, domain: str) -> str:
    """The envelope sender of one delivery: ``b-<id>-<mac>@domain`` (bounces come back to it)."""
    return f"b-{sign_local(key, RETURN_PATH, delivery_id)}@{domain}"


def unsubscribe_address(key: bytes, delivery_id: int, domain: str) -> str:
    """The List-Unsubscribe ``mailto:`` address of one delivery: ``u-<id>-<mac>@domain``."""
    return f"u-{sign_local(key, MAILTO, delivery_id)}@{domain}"


def parse_address(key: bytes, address: str) -> tuple[str, int]:
    """``(RETURN_PATH or MAILTO, delivery id)`` of an address made by :func:`return_path` or
    :func:`unsubscribe_address` (any domain, any case; a ``+detail`` is not allowed); raises BadToken."""
    local = address.strip().strip("<>").rpartition("@")[0] if "@" in address else ""
    prefix, dash, rest = local.partition("-")
    purpose = ADDRESS_KINDS.get(prefix.lower())
    if purpose is None or not dash:
        raise BadToken("not a wildmail address")
    return purpose, verify_local(key, purpose, rest)
