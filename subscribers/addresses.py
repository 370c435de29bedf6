"""Address, time-zone, locale and name normalisation shared by every way subscribers come in.

``normalise_email`` is on the hot path of CSV import: plain ASCII addresses that match a
conservative pattern are accepted without calling email-validator (which costs ~35 µs); every
other string goes through email-validator (syntax only, no DNS). The property tests check that
the fast path never accepts anything email-validator would refuse.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zoneinfo
from functools import lru_cache

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

MAX_EMAIL = 254
MAX_NAME = 200
MAX_LOCALE = 16

_FAST = re.compile(r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPECIAL = frozenset(SPECIAL_USE_DOMAIN_NAMES)  # all single labels


class InvalidValue(ValueError):
    """A field value is not acceptable; the message says why (without a traceback)."""


def _fast_ok(lowered: str) -> bool:
    if len(lowered) > MAX_EMAIL or not _FAST.fullmatch(lowered):
        return False
    local, _, domain = lowered.partition("@")
    if len(local) > 64 or "--" in domain:
        return False
    return domain.rpartition(".")[2] not in _SPECIAL


def normalise_email(raw: str) -> str:
    """Return the address in canonical lower-case form or raise :class:`InvalidValue`."""
    text = raw.strip()
    if not text:
        raise InvalidValue("email is empty")
    lowered = text.lower()
    if lowered.isascii() and _fast_ok(lowered):
        return lowered
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidValue(f"invalid email address: {exc}") from None
    normalised = result.normalized.lower()
    if len(normalised) > MAX_EMAIL:
        raise InvalidValue("email address is too long")
    return normalised


def address_hash(email: str) -> str:
    """SHA-256 (hex) of the normalised address, as kept in the suppression list."""
    return hashlib.sha256(email.encode("utf-8")).hexdigest()


def hash_of(raw: str) -> str:
    """Suppression hash of an address that may not be normalised yet (falls back to lower/strip)."""
    try:
        return address_hash(normalise_email(raw))
    except InvalidValue:
        return address_hash(raw.strip().lower())


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def normalise_timezone(raw: str | None) -> str | None:
    """An IANA zone name, or None (meaning: use the campaign's) when empty or unknown."""
    if not raw:
        return None
    text = raw.strip()
    return text if text in _zones() else None


@lru_cache(maxsize=512)
def normalise_locale(raw: str | None, default: str = "en") -> str:
    """A BCP-47-like tag such as ``en`` or ``pt-BR``; empty means ``default``."""
    if raw is None or not raw.strip():
        return default
    text = raw.strip().replace("_", "-")
    if len(text) > MAX_LOCALE or not _LOCALE.fullmatch(text):
        raise InvalidValue(f"locale {raw.strip()[:40]!r} is not a language tag like 'en' or 'pt-BR'")
    return text


def normalise_name(raw: str | None) -> str:
    """A display name without control characters (no header injection), at most 200 characters."""
    if not raw:
        return ""
    if raw.isascii() and raw.isprintable():
        text = " ".join(raw.split())
    else:
        text = " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", raw)).split())
    if len(text) > MAX_NAME:
        raise InvalidValue(f"name is longer than {MAX_NAME} characters")
    return text
