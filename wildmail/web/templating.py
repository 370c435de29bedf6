"""Jinja environment for web pages (autoescaped)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi.templating import Jinja2Templates

from templates import WEB_DIR

STATIC_DIR = Path(str(files("wildmail.web") / "static"))  # package data, also in an installed wheel

templates = Jinja2Templates(directory=str(WEB_DIR))
