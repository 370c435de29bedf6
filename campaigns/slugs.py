"""The slug a campaign (or an email file) gets from its name."""

from __future__ import annotations

import re
import unicodedata


def slugify(name: str) -> str:
    """'Amur Leopard 2026!' -> 'amur-leopard-2026' (ASCII, at most 100 characters)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:100].strip("-")
