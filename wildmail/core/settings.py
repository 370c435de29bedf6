"""Settings from ``wildmail.toml`` and ``WILDMAIL_*`` environment variables.

Environment variables win over the file. A missing or malformed value raises
:class:`SettingsError` whose message names the key, so the CLI can print one line.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Callable
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
    brand_colour: str = "#1d6b45"  # header band and buttons of the default email template (#rrggbb)
    default_locale: str = "en"  # language of emails (html lang) unless a campaign sets its own
    media_dir: str = "media"  # pictures of articles, served at <base_url>/media/<sha256>.<ext>
    # Private networks that remote fetches (pictures, webhook endpoints) may reach; none by default.
    fetch_allowed_networks: tuple[str, ...] = ()
    reply_to: str = ""
    privacy_url: str = ""  # the organisation's privacy policy, linked from every public page
    logo_url: str = ""  # the organisation's logo in emails and public pages: http(s) URL or site path
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
    # Donations (donations/): the secrets of POST /webhooks/donations and /webhooks/stripe, and how
    # long after a donation click (or, without one, a delivery) a donation is put down to it.
    donation_webhook_secret: str = field(default="", repr=False)
    stripe_webhook_secret: str = field(default="", repr=False)  # the endpoint's whsec_... secret
    donation_window_days: int = 30
    utm_source: str = "wildmail"
    utm_medium: str = "email"
    event_writer: str = "process"  # process | thread: where the web server commits tracking events
    template_dir: str = ""  # the operator's own email templates, chosen by name beside the shipped ones
    trusted_proxies: tuple[str, ...] = ()  # IPs/CIDRs whose X-Forwarded-For is believed; none by default
    # Outbound webhooks (webhooks/): private, loopback and link-local endpoint addresses are refused
    # (SSRF) unless allowed here; seconds an endpoint may take to answer.
    webhooks_allow_private: bool = False
    webhooks_timeout: float = 10.0
    webhooks_keep_days: int = 30  # finished webhook deliveries and their events are pruned after this
    sto_min_events: int = 3  # human opens/clicks before send-time optimisation moves a person's slot
    api_rate_limit: int = 600  # REST API requests per token per minute (429 with Retry-After beyond)

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

    def dkim_private_key(self, name: str = f"{ENV_PREFIX}DKIM_PRIVATE_KEY_FILE") -> RSAPrivateKey:
        """The RSA key named by ``dkim_private_key_file``; a one-line SettingsError (naming the
        setting as ``name``) otherwise."""
        key = _read_key(name, self.require("dkim_private_key_file"))
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

    def dkim_ed25519_private_key(
        self, name: str = f"{ENV_PREFIX}DKIM_ED25519_KEY_FILE"
    ) -> Ed25519PrivateKey | None:
        """The Ed25519 key named by ``dkim_ed25519_key_file`` (None when not set)."""
        if not self.dkim_ed25519_key_file:
            return None
        key = _read_key(name, self.dkim_ed25519_key_file)
        if not isinstance(key, Ed25519PrivateKey):
            raise SettingsError(f"{name}: {self.dkim_ed25519_key_file!r} is not an Ed25519 key")
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


def _read_key(name: str, path: str) -> PrivateKeyTypes:
    """A PEM private key file, or a one-line SettingsError naming the setting as ``name``."""
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


_KINDS: dict[str, type] = {"str": str, "int": int, "float": float, "tuple[str, ...]": tuple, "bool": bool}
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_TYPES: dict[str, type] = {f.name: _KINDS[str(f.type)] for f in fields(Settings)}


def _coerce(key: str, raw: Any, source: str) -> Any:
    kind = _TYPES[key]
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.strip().lower() in _BOOLS:
                return _BOOLS[raw.strip().lower()]
            raise ValueError
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
        names: dict[type, str] = {tuple: "a list of strings", bool: "true or false"}
        expected = names.get(kind, kind.__name__)
        raise SettingsError(f"{source}: expected {expected}, got {shown_value(key, raw)!r}") from None


def env_name(key: str) -> str:
    """The environment variable that sets ``key``."""
    return f"{ENV_PREFIX}{key.upper()}"


def _proxy_networks(
    entries: tuple[str, ...], name: Callable[[str], str] = env_name, key: str = "trusted_proxies"
) -> tuple[str, ...]:
    """Each entry of ``key`` as a normalised IP address or network; a one-line error for anything else."""
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
                f"{name(key)}: {entry!r} is not an IP address or network (like 10.0.0.0/8)"
            ) from None
    return tuple(normalised)


def _web_url(value: str) -> bool:
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc) and not any(c.isspace() for c in value)


def _site_path(value: str) -> bool:
    return value.startswith("/") and not value.startswith("//") and not any(c.isspace() for c in value)


def _validate(s: Settings, origins: dict[str, str] | None = None) -> Settings:
    """``s`` checked; an error names each key as the user wrote it (``origins``: key -> file key
    or environment variable; keys not listed by their environment variable)."""
    where = origins or {}

    def name(key: str) -> str:
        return where.get(key, env_name(key))

    check_secret_key(s.secret_key, where.get("secret_key", "secret_key"))
    if s.smtp_tls not in ("none", "starttls", "implicit"):
        raise SettingsError(f"{name('smtp_tls')}: expected none, starttls or implicit, got {s.smtp_tls!r}")
    if s.imap_tls not in ("none", "starttls", "implicit"):
        raise SettingsError(f"{name('imap_tls')}: expected none, starttls or implicit, got {s.imap_tls!r}")
    if s.bounce_domain and not _DOMAIN.fullmatch(s.bounce_domain):
        raise SettingsError(f"{name('bounce_domain')}: {s.bounce_domain!r} is not a domain name")
    for key in ("soft_bounce_threshold", "soft_bounce_window", "inbound_max_bytes", "inbound_keep_bytes"):
        if getattr(s, key) < 1:
            raise SettingsError(f"{name(key)}: must be at least 1")
    if s.sto_min_events < 1:
        raise SettingsError(f"{name('sto_min_events')}: must be at least 1")
    if s.soft_bounce_threshold > s.soft_bounce_window:
        raise SettingsError(
            f"{name('soft_bounce_threshold')}: {s.soft_bounce_threshold} is more than"
            f" soft_bounce_window ({s.soft_bounce_window})"
        )
    for key in ("breaker_complaint_rate", "breaker_hard_bounce_rate"):
        if not 0 < getattr(s, key) <= 1:
            raise SettingsError(f"{name(key)}: expected a share between 0 and 1, like 0.001")
    if s.api_rate_limit < 1:
        raise SettingsError(f"{name('api_rate_limit')}: expected requests per minute, at least 1")
    if s.donation_webhook_secret:
        check_secret_key(s.donation_webhook_secret, name("donation_webhook_secret"))
    if not 1 <= s.donation_window_days <= 366:
        raise SettingsError(f"{name('donation_window_days')}: expected 1 to 366 days")
    if s.event_writer not in ("process", "thread"):
        raise SettingsError(f"{name('event_writer')}: expected process or thread, got {s.event_writer!r}")
    if not 0 < s.smtp_port < 65536:
        raise SettingsError(f"{name('smtp_port')}: {s.smtp_port} is not a port number")
    if not 1 <= s.webhooks_keep_days <= 3650:
        raise SettingsError(
            f"{name('webhooks_keep_days')}: expected 1 to 3650 days, got {s.webhooks_keep_days}"
        )
    if s.webhooks_timeout <= 0:
        raise SettingsError(
            f"{name('webhooks_timeout')}: expected seconds above 0, got {s.webhooks_timeout:g}"
        )
    if s.smtp_timeout <= 0:
        raise SettingsError(f"{name('smtp_timeout')}: expected seconds above 0, got {s.smtp_timeout:g}")
    if s.smtp_rate_per_second < 0:
        raise SettingsError(
            f"{name('smtp_rate_per_second')}: expected 0 (no limit) or more, got {s.smtp_rate_per_second:g}"
        )
    if bool(s.dkim_selector) != bool(s.dkim_private_key_file):
        missing = "dkim_private_key_file" if s.dkim_selector else "dkim_selector"
        raise SettingsError(f"{name(missing)}: DKIM signing needs both a selector and a key file")
    if s.template_dir and not Path(s.template_dir).is_dir():
        raise SettingsError(f"{name('template_dir')}: {s.template_dir!r} is not a directory")
    if s.smtp_ca_file and not Path(s.smtp_ca_file).is_file():
        raise SettingsError(f"{name('smtp_ca_file')}: cannot read {s.smtp_ca_file!r}")
    if bool(s.dkim_ed25519_selector) != bool(s.dkim_ed25519_key_file):
        missing = "dkim_ed25519_key_file" if s.dkim_ed25519_selector else "dkim_ed25519_selector"
        raise SettingsError(f"{name(missing)}: Ed25519 signing needs both a selector and a key file")
    if s.dkim_ed25519_key_file and not s.dkim_private_key_file:
        raise SettingsError(
            f"{name('dkim_ed25519_key_file')}: an Ed25519 signature is a second one;"
            " set dkim_selector and dkim_private_key_file (RSA) too"
        )
    if s.dkim_private_key_file:  # a bad key stops every command at startup, not the first send
        s.dkim_private_key(name("dkim_private_key_file"))
        s.dkim_ed25519_private_key(name("dkim_ed25519_key_file"))
    if not re.match(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$", s.brand_colour):
        raise SettingsError(
            f"{name('brand_colour')}: expected a hex colour like #1d6b45, got {s.brand_colour!r}"
        )
    if not re.match(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$", s.default_locale):
        raise SettingsError(
            f"{name('default_locale')}: expected a language tag like en or fr-CA, got {s.default_locale!r}"
        )
    parsed = urlparse(s.base_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(f"{name('base_url')}: expected an http(s) URL, got {s.base_url!r}")
    if s.privacy_url and not _web_url(s.privacy_url):
        raise SettingsError(f"{name('privacy_url')}: expected an http(s) URL, got {s.privacy_url!r}")
    if s.logo_url and not (_web_url(s.logo_url) or _site_path(s.logo_url)):
        raise SettingsError(
            f"{name('logo_url')}: expected an http(s) URL or a path on this site like /static/logo.png,"
            f" got {s.logo_url!r}"
        )
    if "://" not in s.database_url:
        shown = mask_url(s.database_url)
        raise SettingsError(f"{name('database_url')}: expected a URL like sqlite:///file.db, got {shown!r}")
    try:
        ZoneInfo(s.default_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"{name('default_timezone')}: unknown time zone {s.default_timezone!r}") from None
    return replace(
        s,
        base_url=s.base_url.rstrip("/"),
        trusted_proxies=_proxy_networks(s.trusted_proxies, name),
        fetch_allowed_networks=_proxy_networks(s.fetch_allowed_networks, name, "fetch_allowed_networks"),
    )


def setting_source(key: str, environ: dict[str, str] | None = None) -> str:
    """How the user named ``key``: its environment variable when set there, else the settings
    file's key, else the environment variable (the default was used)."""
    env = dict(os.environ if environ is None else environ)
    if env_name(key) in env:
        return env_name(key)
    file = Path(env.get(f"{ENV_PREFIX}CONFIG") or DEFAULT_FILE)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return env_name(key)
    table = data.get("wildmail", data)
    return f"'{key}' in {file}" if isinstance(table, dict) and key in table else env_name(key)


def load_settings(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read ``wildmail.toml`` (or ``WILDMAIL_CONFIG``) then environment overrides."""
    env = dict(os.environ if environ is None else environ)
    named = env.get(f"{ENV_PREFIX}CONFIG")
    file = Path(path or named or DEFAULT_FILE)
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{file}: not valid TOML ({exc})") from None
        table = data.get("wildmail", data)
        for key, raw in table.items():
            if key not in _TYPES:
                raise SettingsError(f"{file}: unknown setting '{key}'")
            origins[key] = f"'{key}' in {file}"
            values[key] = _coerce(key, raw, origins[key])
    elif path is not None:
        raise SettingsError(f"{file}: settings file not found")
    elif named:
        raise SettingsError(f"{ENV_PREFIX}CONFIG: settings file {named!r} not found")
    for key in _TYPES:
        raw = env.get(env_name(key))
        if raw is not None:
            origins[key] = env_name(key)
            values[key] = _coerce(key, raw, origins[key])
    return _validate(Settings(**values), origins)
