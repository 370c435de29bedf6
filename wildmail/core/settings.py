"""Settings from ``wildmail.toml`` and ``WILDMAIL_*`` environment variables.

Environment variables win over the file. A missing or malformed value raises
:class:`SettingsError` whose message names the key, so the CLI can print one line.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from wildmail.core.redaction import mask_url, shown_settings, shown_value

ENV_PREFIX = "WILDMAIL_"
DEFAULT_FILE = "wildmail.toml"
MIN_RSA_BITS = 1024
SECRET_MIN_BYTES = 32
SECRET_MIN_DISTINCT = 10
_DOMAIN = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
)


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
    # Bounces, complaints and mailto unsubscribes (inbound/): where they come back, and the policy.
    bounce_domain: str = ""  # envelope sender b-<token>@bounce_domain, List-Unsubscribe u-<token>@...
    bounce_address: str = ""  # one fixed envelope sender, for relays that rewrite the return path
    inbound_max_bytes: int = 10_000_000  # larger messages are refused (SMTP) or skipped (IMAP, files)
    inbound_keep_bytes: int = 262_144  # how much of each received message is kept, raw
    soft_bounce_threshold: int = 3  # soft bounces among the last soft_bounce_window sends suppress
    soft_bounce_window: int = 5
    soft_bounce_expiry_days: int = 30  # older soft bounces no longer count
    breaker_min_deliveries: int = 1000  # a campaign's circuit breaker judges from this many sends on
    breaker_complaint_rate: float = 0.001
    breaker_hard_bounce_rate: float = 0.05
    imap_host: str = ""
    imap_port: int = 993
    imap_tls: str = "implicit"  # implicit | starttls | none
    imap_user: str = ""
    imap_password: str = field(default="", repr=False)
    imap_folder: str = "INBOX"
    imap_processed_folder: str = "wildmail-processed"
    imap_unknown_folder: str = "wildmail-unknown"
    webhook_max_age_seconds: int = 900  # older (or replayed) provider webhook requests are refused
    ses_topic_arn: str = ""  # the SNS topic SES publishes to (other topics are refused)
    postmark_webhook_secret: str = field(default="", repr=False)  # HTTP basic-auth password in the URL
    sendgrid_webhook_public_key: str = ""  # the signed event webhook's verification key (base64)
    mailgun_webhook_signing_key: str = field(default="", repr=False)
    utm_source: str = "wildmail"
    utm_medium: str = "email"
    event_writer: str = "process"  # process | thread: where the web server commits tracking events
    template_dir: str = ""  # the operator's own email templates, chosen by name beside the shipped ones
    trusted_proxies: tuple[str, ...] = ()  # IPs/CIDRs whose X-Forwarded-For is believed; none by default

    def require(self, key: str) -> str:
        """Return a string setting, or raise naming the key when it is empty."""
        value = getattr(self, key)
        if not value:
            raise SettingsError(f"{ENV_PREFIX}{key.upper()} (or '{key}' in {DEFAULT_FILE}) is not set")
        return str(value)

    @property
    def secret(self) -> bytes:
        """The signing key as bytes; required for every token, refused when weak."""
        key = self.require("secret_key").encode()
        check_secret_key(self.secret_key, "secret_key")
        return key

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

    def __repr__(self) -> str:
        """Secrets masked, so a logged or printed Settings never carries them."""
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown_settings(self)) + ")"

    def with_overrides(self, **values: Any) -> Settings:
        """A copy with some values replaced (validated like loaded ones)."""
        return _validate(replace(self, **values))


def secret_key_problem(key: str) -> str | None:
    """Why ``key`` is too weak to sign links, or None when it is acceptable.

    Accepted: at least 32 bytes once UTF-8 encoded, with at least 10 different characters
    (``wildmail init`` writes 43 random URL-safe characters, 256 bits).
    """
    size = len(key.encode("utf-8"))
    if size < SECRET_MIN_BYTES:
        return f"too short ({size} bytes; at least {SECRET_MIN_BYTES} random bytes are required)"
    if len(set(key)) < SECRET_MIN_DISTINCT:
        return f"too predictable (fewer than {SECRET_MIN_DISTINCT} different characters)"
    return None


def check_secret_key(key: str, source: str) -> None:
    """Raise a one-line :class:`SettingsError` naming ``source`` when a set key is weak (never the key)."""
    problem = secret_key_problem(key) if key else None
    if problem is not None:
        raise SettingsError(
            f"{source}: {problem}; run 'wildmail init' for a new wildmail.toml with a generated key, or set"
            " one from: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )


@lru_cache(maxsize=8)
def _parsed_key(pem: bytes) -> PrivateKeyTypes:
    """``pem`` loaded once per content: checking an RSA key costs about 30 ms, and settings
    validation, the campaign sender and every single message (confirmations, test sends) ask."""
    return load_pem_private_key(pem, password=None)


def _read_key(key: str, path: str) -> PrivateKeyTypes:
    """A PEM private key file, or a one-line SettingsError naming the setting."""
    name = f"{ENV_PREFIX}{key.upper()}"
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SettingsError(f"{name}: cannot read {path!r}: {exc.strerror or exc}") from None
    try:
        return _parsed_key(data)
    except TypeError:  # the key is encrypted
        raise SettingsError(f"{name}: {path!r} is encrypted; wildmail needs an unencrypted key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise SettingsError(f"{name}: {path!r} is not a PEM private key") from None


_KINDS: dict[str, type] = {"str": str, "int": int, "float": float, "tuple[str, ...]": tuple}
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
        if kind is tuple:
            items = raw.split(",") if isinstance(raw, str) else raw
            if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
                raise ValueError
            return tuple(item.strip() for item in items if item.strip())
        if not isinstance(raw, (str, int, float)):
            raise ValueError
        return str(raw)
    except (TypeError, ValueError):
        expected = "a list of strings" if kind is tuple else kind.__name__
        raise SettingsError(f"{source}: expected {expected}, got {shown_value(key, raw)!r}") from None


def _proxy_networks(entries: tuple[str, ...]) -> tuple[str, ...]:
    """Each trusted proxy as a normalised IP address or network; a one-line error for anything else."""
    normalised = []
    for entry in entries:
        try:
            normalised.append(
                str(ipaddress.ip_network(entry, strict=False))
                if "/" in entry
                else str(ipaddress.ip_address(entry))
            )
        except ValueError:
            raise SettingsError(
                f"{ENV_PREFIX}TRUSTED_PROXIES: {entry!r} is not an IP address or network (like 10.0.0.0/8)"
            ) from None
    return tuple(normalised)


def _validate(s: Settings, key_origin: str = "secret_key") -> Settings:
    check_secret_key(s.secret_key, key_origin)
    if s.smtp_tls not in ("none", "starttls", "implicit"):
        raise SettingsError(f"{ENV_PREFIX}SMTP_TLS: expected none, starttls or implicit, got {s.smtp_tls!r}")
    if s.imap_tls not in ("none", "starttls", "implicit"):
        raise SettingsError(f"{ENV_PREFIX}IMAP_TLS: expected none, starttls or implicit, got {s.imap_tls!r}")
    if s.bounce_domain and not _DOMAIN.fullmatch(s.bounce_domain):
        raise SettingsError(f"{ENV_PREFIX}BOUNCE_DOMAIN: {s.bounce_domain!r} is not a domain name")
    for key in ("soft_bounce_threshold", "soft_bounce_window", "inbound_max_bytes", "inbound_keep_bytes"):
        if getattr(s, key) < 1:
            raise SettingsError(f"{ENV_PREFIX}{key.upper()}: must be at least 1")
    if s.soft_bounce_threshold > s.soft_bounce_window:
        raise SettingsError(
            f"{ENV_PREFIX}SOFT_BOUNCE_THRESHOLD: {s.soft_bounce_threshold} is more than"
            f" soft_bounce_window ({s.soft_bounce_window})"
        )
    for key in ("breaker_complaint_rate", "breaker_hard_bounce_rate"):
        if not 0 < getattr(s, key) <= 1:
            raise SettingsError(f"{ENV_PREFIX}{key.upper()}: expected a share between 0 and 1, like 0.001")
    if s.event_writer not in ("process", "thread"):
        raise SettingsError(f"{ENV_PREFIX}EVENT_WRITER: expected process or thread, got {s.event_writer!r}")
    if not 0 < s.smtp_port < 65536:
        raise SettingsError(f"{ENV_PREFIX}SMTP_PORT: {s.smtp_port} is not a port number")
    if bool(s.dkim_selector) != bool(s.dkim_private_key_file):
        missing = "DKIM_PRIVATE_KEY_FILE" if s.dkim_selector else "DKIM_SELECTOR"
        raise SettingsError(f"{ENV_PREFIX}{missing}: DKIM signing needs both a selector and a key file")
    if s.template_dir and not Path(s.template_dir).is_dir():
        raise SettingsError(f"{ENV_PREFIX}TEMPLATE_DIR: {s.template_dir!r} is not a directory")
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
        shown = mask_url(s.database_url)
        raise SettingsError(f"{ENV_PREFIX}DATABASE_URL: expected a URL like sqlite:///file.db, got {shown!r}")
    try:
        ZoneInfo(s.default_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"{ENV_PREFIX}DEFAULT_TIMEZONE: unknown time zone {s.default_timezone!r}"
        ) from None
    return replace(s, base_url=s.base_url.rstrip("/"), trusted_proxies=_proxy_networks(s.trusted_proxies))


def load_settings(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read ``wildmail.toml`` (or ``WILDMAIL_CONFIG``) then environment overrides."""
    env = dict(os.environ if environ is None else environ)
    named = env.get(f"{ENV_PREFIX}CONFIG")
    file = Path(path or named or DEFAULT_FILE)
    values: dict[str, Any] = {}
    secret_source = f"{ENV_PREFIX}SECRET_KEY"
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
        if "secret_key" in values:
            secret_source = f"'secret_key' in {file}"
    elif path is not None:
        raise SettingsError(f"{file}: settings file not found")
    elif named:
        raise SettingsError(f"{ENV_PREFIX}CONFIG: settings file {named!r} not found")
    for key in _TYPES:
        raw = env.get(ENV_PREFIX + key.upper())
        if raw is not None:
            values[key] = _coerce(key, raw, ENV_PREFIX + key.upper())
            if key == "secret_key":
                secret_source = f"{ENV_PREFIX}SECRET_KEY"
    return _validate(Settings(**values), secret_source)
