"""Masking secrets wherever settings are shown: the admin page, ``repr(settings)``, error messages.

A setting whose name says it is secret (``secret_key``, ``smtp_password``, anything with password,
secret, token or key in its name) is never shown; in every other value, the password of a URL
(``scheme://user:PASSWORD@host``) and secret-looking query parameters (``?sslpassword=...``) are masked.
"""

from __future__ import annotations

import re
from dataclasses import fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wildmail.core.settings import Settings

HIDDEN = "(set, hidden)"
MASK = "***"
_SECRET_NAME = re.compile(r"password|passwd|secret|token|(^|_)key$|api_?key", re.IGNORECASE)
# The userinfo password as SQLAlchemy reads it: after the user's ':' up to the first '@'.
_URL_PASSWORD = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*://)?+[^:/@]*:)[^@]*@")
_SECRET_PARAM = re.compile(
    r"([?&;][^=&;#]*(?:password|passwd|pwd|secret|token|key)[^=&;#]*=)[^&;#]*", re.IGNORECASE
)


def is_secret_setting(name: str) -> bool:
    """True when the setting called ``name`` holds a secret and must never be shown."""
    return bool(_SECRET_NAME.search(name))


def mask_url(text: str) -> str:
    """``text`` with a URL password and secret query parameters replaced by ``***``."""
    return _SECRET_PARAM.sub(rf"\g<1>{MASK}", _URL_PASSWORD.sub(rf"\g<1>{MASK}@", text))


def shown_value(name: str, value: object) -> str:
    """How the setting ``name`` may be displayed: secrets hidden, URL passwords masked."""
    if is_secret_setting(name):
        return HIDDEN if value else ""
    if isinstance(value, tuple):
        return ", ".join(mask_url(str(item)) for item in value)
    return mask_url(str(value))


def shown_settings(settings: Settings) -> list[tuple[str, str]]:
    """Every setting with its displayable value, in declaration order."""
    return [(f.name, shown_value(f.name, getattr(settings, f.name))) for f in fields(settings)]
