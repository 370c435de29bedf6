"""``wildmail init``: write a starting ``wildmail.toml`` with a freshly generated ``secret_key``."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import fields
from pathlib import Path
from typing import Annotated

import typer

from wildmail.cli.common import console, fail
from wildmail.core.settings import DEFAULT_FILE, Settings

HEADER = """\
# wildmail settings. WILDMAIL_* environment variables override anything here.
# Keep this file private (it holds the signing key) and never change secret_key once mail is out:
# every link already sent is signed with it.

"""


def _toml_value(value: object) -> str:
    return json.dumps(value) if isinstance(value, (str, bool)) else repr(value)


def config_text(key: str) -> str:
    """The file's contents: the generated key, then every other setting commented out at its default."""
    lines = [HEADER, f"secret_key = {_toml_value(key)}\n", "\n"]
    defaults = Settings()
    for item in fields(Settings):
        if item.name != "secret_key":
            lines.append(f"# {item.name} = {_toml_value(getattr(defaults, item.name))}\n")
    return "".join(lines)


def init(
    path: Annotated[Path, typer.Argument(help="Where to write the settings file.")] = Path(DEFAULT_FILE),
) -> None:
    """Write a new wildmail.toml with a generated secret_key (readable by you only); never overwrites."""
    text = config_text(secrets.token_urlsafe(32))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fail(f"{path} already exists; nothing written (remove it or pass another path)")
    except OSError as exc:
        fail(f"{path}: cannot create ({exc.strerror or exc})")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)  # the umask cannot widen it, but make it explicit
        out.write(text)
    console.print(
        f"wrote {path} with a new secret_key; edit base_url, sender and SMTP settings next", highlight=False
    )
