"""``wildmail dkim keygen``: a DKIM key pair, and the DNS record and settings that go with it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from delivery.dkim import dns_record
from wildmail.cli.common import EXIT_FAILURE, fail
from wildmail.core.settings import SettingsError, load_settings

app = typer.Typer(help="DKIM signing keys.", no_args_is_help=True)
LABELS = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
TXT_CHUNK = 255  # one DNS character-string holds at most 255 bytes


def _default_domain() -> str:
    try:
        settings = load_settings()
    except SettingsError as exc:
        fail(f"--domain is needed: the settings could not be read ({exc})")
    return settings.dkim_domain or settings.sender_address.rpartition("@")[2]


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600; never overwrite."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fail(f"--out: {path} exists; not overwriting a key (move it away or choose another selector)")
    except OSError as exc:
        fail(f"--out: cannot create {path}: {exc.strerror or exc}", EXIT_FAILURE)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(data)


@app.command()
def keygen(
    selector: str = typer.Option(..., "--selector", help="DKIM selector, e.g. s1 or wm2026."),
    domain: str = typer.Option("", "--domain", help="Signing domain (default: dkim_domain or the sender's)."),
    out: Path = typer.Option(Path("."), "--out", help="Folder for the private key file."),
    key_type: str = typer.Option("rsa", "--type", help="rsa (the default) or ed25519 (a second signature)."),
    bits: int = typer.Option(2048, "--bits", min=1024, max=4096, help="RSA key size."),
) -> None:
    """Write a new private key (mode 0600) and print the DNS TXT record to publish."""
    if not LABELS.fullmatch(selector):
        fail(f"--selector: {selector!r} is not a DNS name (letters, digits, '-' and '.')")
    if key_type not in ("rsa", "ed25519"):
        fail(f"--type: expected rsa or ed25519, got {key_type!r}")
    domain = domain or _default_domain()
    if not LABELS.fullmatch(domain):
        fail(f"--domain: {domain!r} is not a domain name")
    if not out.is_dir():
        fail(f"--out: {out} is not a folder")
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if key_type == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    else:
        key = ed25519.Ed25519PrivateKey.generate()
    path = (out / f"{selector}.{domain}.{key_type}.pem").resolve()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_new(path, pem)
    value = dns_record(key)
    quoted = " ".join(f'"{value[i : i + TXT_CHUNK]}"' for i in range(0, len(value), TXT_CHUNK))
    prefix = "dkim" if key_type == "rsa" else "dkim_ed25519"
    what = f"RSA {bits}-bit" if key_type == "rsa" else "Ed25519"
    typer.echo(f"wrote {path} ({what} private key, mode 0600)")
    typer.echo("")
    typer.echo("Publish this DNS TXT record:")
    typer.echo(f"  name:  {selector}._domainkey.{domain}")
    typer.echo(f"  value: {value}")
    typer.echo(f"  zone file: {selector}._domainkey.{domain}. IN TXT {quoted}")
    typer.echo("")
    typer.echo("Then add to wildmail.toml (or the WILDMAIL_* environment):")
    typer.echo(f'  {prefix}_selector = "{selector}"')
    if key_type == "rsa":
        typer.echo(f'  dkim_domain = "{domain}"')
        typer.echo(f'  dkim_private_key_file = "{path}"')
    else:
        typer.echo(f'  dkim_ed25519_key_file = "{path}"')
        typer.echo("  (an Ed25519 signature is sent as a second one, next to the RSA signature)")
