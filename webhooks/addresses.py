"""Which endpoint URLs may be called: http(s) only, and no private network unless allowed (SSRF)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class WebhookError(ValueError):
    """A user mistake about an endpoint or a delivery (bad URL, unknown id, unknown event type)."""


def check_url(url: str) -> str:
    """``url`` when it is an absolute http(s) URL with a host and no credentials; WebhookError otherwise."""
    url = url.strip()
    if any(c.isspace() or ord(c) < 32 for c in url) or len(url) > 2000:
        raise WebhookError(f"{url!r} is not a URL (spaces, control characters, or over 2,000 characters)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookError(f"{url!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(f"{url!r}: an endpoint must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise WebhookError(f"{url!r}: put no user name or password in the URL (the signature authenticates)")
    del port  # parsed only to reject a bad port early
    return url


def _private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def resolve(url: str) -> list[str]:
    """The addresses the URL's host resolves to (the host itself when it is an address)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise OSError(f"cannot resolve {host}: {exc.strerror or exc}") from None
    return sorted({str(info[4][0]) for info in infos})


def refuse_private(url: str, allow_private: bool, *, unresolved_ok: bool = False) -> None:
    """Raise WebhookError when the URL's host is (or resolves to) a private, loopback, link-local
    or otherwise non-public address and ``allow_private`` is off. ``unresolved_ok``: a host that
    does not resolve yet passes (registration); it is checked again before every delivery."""
    if allow_private:
        return
    try:
        addresses = resolve(url)
    except OSError as exc:
        if unresolved_ok:
            return
        raise WebhookError(str(exc)) from None
    private = [a for a in addresses if _private(a)]
    if private:
        raise WebhookError(
            f"{urlsplit(url).hostname} is a private or loopback address ({', '.join(private)});"
            " set webhooks_allow_private = true to allow endpoints on your own network"
        )
