"""Settings from ``wildmail.toml`` and ``WILDMAIL_*`` environment variables.

Environment variables win over the file. A missing or malformed value raises
:class:`SettingsError` whose message names the key, so the CLI can print one line.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import load_pem_private_key

ENV_PREFIX = "WILDMAIL_"
DEFAULT_FILE = "wildmail.toml"
MIN_RSA_BITS = 1024


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the key."""


@dataclass(frozen=True)
class Settings:
    """Every setting the application reads, with safe development defaults."""

    database_url: str = "sqlite:///./wildmail.db"
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = ""
    sender_address: str = "news@wildmail.example"
    sender_name: str = "Wildlife Fund"
    organisation: str = "Wildlife Fund"
    postal_address: str = "1 Example Street, 00000 Example City"
    reply_to: str = ""
    default_timezone: str = "UTC"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_tls: str = "none"  # none | starttls | implicit
    smtp_ca_file: str = ""  # extra CA certificates (PEM) to trust for the relay; verification stays on
    smtp_timeout: float = 30.0
    smtp_rate_per_second: float = 0.0  # 0 = unlimited
    dkim_selector: str = ""
    dkim_domain: str = ""
    dkim_private_key_file: str = ""  # PEM RSA key (>= 1024 bits; `wildmail dkim keygen` makes 2048)
    dkim_ed25519_selector: str = ""  # optional second signature (RFC 8463), with its own selector
    dkim_ed25519_key_file: str = ""
    unsubscribe_mailto: str = ""
    utm_source: str = "wildmail"
    utm_medium: str = "email"
    event_writer: str = "process"  # process | thread: where the web server commits tracking events

    def require(self, key: str) -> str:
        """Return a string setting, or raise naming the key when it is empty."""
        value = getattr(self, key)
        if not value:
            raise SettingsError(f"{ENV_PREFIX}{key.upper()} (or '{key}' in {DEFAULT_FILE}) is not set")
        return str(value)

    @property
    def secret(self) -> bytes:
        """The signing key as bytes; required for every token."""
        return self.require("secret_key").encode()

    def dkim_private_key(self) -> RSAPrivateKey:
        """The RSA key named by ``dkim_private_key_file``; a one-line SettingsError otherwise."""
        key = _read_key("dkim_private_key_file", self.require("dkim_private_key_file"))
        name = f"{ENV_PREFIX}DKIM_PRIVATE_KEY_FILE"
        if not isinstance(key, RSAPrivateKey):
            raise SettingsError(
                f"{name}: {self.dkim_private_key_file!r} is not an RSA key"
                " (an Ed25519 key goes in dkim_ed25519_key_file, as a second signature)"
            )
        if key.key_size < MIN_RSA_BITS:
            raise SettingsError(
                f"{name}: {self.dkim_private_key_file!r} is a {key.key_size}-bit RSA key;"
                f" DKIM needs at least {MIN_RSA_BITS} bits (2048 recommended)"
            )
        return key

    def dkim_ed25519_private_key(self) -> Ed25519PrivateKey | None:
        """The Ed25519 key named by ``dkim_ed25519_key_file`` (None when not set)."""
        if not self.dkim_ed25519_key_file:
            return None
        key = _read_key("dkim_ed25519_key_file", self.dkim_ed25519_key_file)
        if not isinstance(key, Ed25519PrivateKey):
            raise SettingsError(
                f"{ENV_PREFIX}DKIM_ED25519_KEY_FILE: {self.dkim_ed25519_key_file!r} is not an Ed25519 key"
            )
        return key

    def with_overrides(self, **values: Any) -> Settings:
        """A copy with some values replaced (validated like loaded ones)."""
        return _validate(replace(self, **values))


def _read_key(key: str, path: str) -> PrivateKeyTypes:
    """A PEM private key file, or a one-line SettingsError naming the setting."""
    name = f"{ENV_PREFIX}{key.upper()}"
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SettingsError(f"{name}: cannot read {path!r}: {exc.strerror or exc}") from None
    try:
        return load_pem_private_key(data, password=None)
    except TypeError:  # the key is encrypted
        raise SettingsError(f"{name}: {path!r} is encrypted; wildmail needs an unencrypted key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise SettingsError(f"{name}: {path!r} is not a PEM private key") from None


_KINDS: dict[str, type] = {"str": str, "int": int, "float": float}
_TYPES: dict[str, type] = {f.name: _KINDS[str(f.type)] for f in fields(Settings)}


def _coerce(key: str, raw: Any, source: str) -> Any:
    kind = _TYPES[key]
    try:
        if kind is int:
            if isinstance(raw, bool):
                raise ValueError
            return int(raw)
        if kind is float:
            return float(raw)
        if not isinstance(raw, (str, int, float)):
            raise ValueError
        return str(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"{source}: expected {kind.__name__}, got {raw!r}") from None


def _validate(s: Settings) -> Settings:
    if s.smtp_tls not in ("none", "starttls", "implicit"):
        raise SettingsError(f"{ENV_PREFIX}SMTP_TLS: expected none, starttls or implicit, got {s.smtp_tls!r}")
    if s.event_writer not in ("process", "thread"):
        raise SettingsError(f"{ENV_PREFIX}EVENT_WRITER: expected process or thread, got {s.event_writer!r}")
    if not 0 < s.smtp_port < 65536:
        raise SettingsError(f"{ENV_PREFIX}SMTP_PORT: {s.smtp_port} is not a port number")
    if bool(s.dkim_selector) != bool(s.dkim_private_key_file):
        missing = "DKIM_PRIVATE_KEY_FILE" if s.dkim_selector else "DKIM_SELECTOR"
        raise SettingsError(f"{ENV_PREFIX}{missing}: DKIM signing needs both a selector and a key file")
    if bool(s.dkim_ed25519_selector) != bool(s.dkim_ed25519_key_file):
        missing = "DKIM_ED25519_KEY_FILE" if s.dkim_ed25519_selector else "DKIM_ED25519_SELECTOR"
        raise SettingsError(f"{ENV_PREFIX}{missing}: Ed25519 signing needs both a selector and a key file")
    if s.dkim_ed25519_key_file and not s.dkim_private_key_file:
        raise SettingsError(
            f"{ENV_PREFIX}DKIM_ED25519_KEY_FILE: an Ed25519 signature is a second one;"
            " set dkim_selector and dkim_private_key_file (RSA) too"
        )
    if s.dkim_private_key_file:  # a bad key stops every command at startup, not the first send
        s.dkim_private_key()
        s.dkim_ed25519_private_key()
    parsed = urlparse(s.base_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(f"{ENV_PREFIX}BASE_URL: expected an http(s) URL, got {s.base_url!r}")
    if "://" not in s.database_url:
        raise SettingsError(
            f"{ENV_PREFIX}DATABASE_URL: expected a URL like sqlite:///file.db, got {s.database_url!r}"
        )
    try:
        ZoneInfo(s.default_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"{ENV_PREFIX}DEFAULT_TIMEZONE: unknown time zone {s.default_timezone!r}"
        ) from None
    return replace(s, base_url=s.base_url.rstrip("/"))


def load_settings(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read ``wildmail.toml`` (or ``WILDMAIL_CONFIG``) then environment overrides."""
    env = dict(os.environ if environ is None else environ)
    file = Path(path or env.get(f"{ENV_PREFIX}CONFIG") or DEFAULT_FILE)
    values: dict[str, Any] = {}
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{file}: not valid TOML ({exc})") from None
        table = data.get("wildmail", data)
        for key, raw in table.items():
            if key not in _TYPES:
                raise SettingsError(f"{file}: unknown setting '{key}'")
            values[key] = _coerce(key, raw, f"{file}: '{key}'")
    elif path is not None:
        raise SettingsError(f"{file}: settings file not found")
    for key in _TYPES:
        raw = env.get(ENV_PREFIX + key.upper())
        if raw is not None:
            values[key] = _coerce(key, raw, ENV_PREFIX + key.upper())
    return _validate(Settings(**values))
