"""Outbound HTTP to addresses a user typed (an article's pictures, webhook endpoints).

Such an address must name a public host: otherwise anyone who can upload an article could make the
server probe its own network (server-side request forgery). Every address the host name resolves
to must be global; the operator opens chosen networks with the ``fetch_allowed_networks`` setting
(a test or an intranet picture server). Redirects are followed by the caller one hop at a time, so
each hop is checked again.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class BlockedAddress(ValueError):
    """The address is not http(s), does not resolve, or names a private or reserved host."""


class Unresolved(BlockedAddress):
    """The host name does not resolve (now)."""


def check_public_url(url: str, allowed: tuple[str, ...] = ()) -> None:
    """Raise :class:`BlockedAddress` unless ``url`` is http(s) and its host resolves only to public
    addresses or to addresses inside one of the ``allowed`` networks."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise BlockedAddress("not an http(s) address")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise BlockedAddress("the port is not a number") from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Unresolved(f"{host} does not resolve") from None
    networks = [ipaddress.ip_network(net, strict=False) for net in allowed]
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if (not ip.is_global or ip.is_multicast) and not any(ip in net for net in networks):
            raise BlockedAddress(f"{host} is a private, loopback or reserved address ({ip})")
