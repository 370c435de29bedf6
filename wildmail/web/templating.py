"""Jinja environment for web pages (autoescaped), with the organisation's branding in every page."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from templates import WEB_DIR

STATIC_DIR = Path(str(files("wildmail.web") / "static"))  # package data, also in an installed wheel


@dataclass(frozen=True)
class Brand:
    """What public pages show about the sender (settings ``organisation``, ``logo_url``,
    ``privacy_url``, ``postal_address``)."""

    organisation: str
    logo_url: str
    privacy_url: str
    postal_address: str


def brand_of(request: Request) -> dict[str, Any]:
    """Template context: ``brand`` from the app's settings (None outside the app)."""
    ctx = getattr(request.app.state, "ctx", None)
    if ctx is None:
        return {"brand": None}
    s = ctx.settings
    return {"brand": Brand(s.organisation, s.logo_url, s.privacy_url, s.postal_address)}


templates = Jinja2Templates(directory=str(WEB_DIR), context_processors=[brand_of])
