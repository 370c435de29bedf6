"""The shipped email and web templates, installed as package data so a wheel finds them too."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _folder(name: str) -> Path:
    folder = files(__name__) / name
    if not isinstance(folder, Path):  # a zip import: Jinja's FileSystemLoader needs real files
        raise RuntimeError(f"wildmail's templates must be installed as files, not {folder!r}")
    return folder


EMAIL_DIR = _folder("email")
WEB_DIR = _folder("web")
