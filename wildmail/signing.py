"""HMAC-signed compact tokens, checked in constant time.

A token is ``base64url(payload) + "." + base64url(mac)`` where the MAC covers a
purpose string too, so a token minted for one use cannot be replayed for another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from functools import lru_cache

MAC_BYTES = 12  # 96-bit truncated HMAC-SHA256: short URLs, forgery still infeasible


_URLSAFE = bytes.maketrans(b"+/", b"-_")


class BadToken(ValueError):
    """The token is malformed, tampered with, expired or minted for another purpose."""


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise BadToken("not base64") from None


@lru_cache(maxsize=64)
def _keyed(key: bytes, purpose: str) -> hmac.HMAC:
    """HMAC state after the key and the purpose prefix; copied per token (same MAC, less work)."""
    return hmac.new(key, purpose.encode() + b"\x00", hashlib.sha256)


def _mac(key: bytes, purpose: str, payload: bytes) -> bytes:
    mac = _keyed(key, purpose).copy()
    mac.update(payload)
    return mac.digest()[:MAC_BYTES]


def sign(key: bytes, purpose: str, payload: bytes) -> str:
    """Return a URL-safe token carrying ``payload``."""
    return f"{_b64(payload)}.{_b64(_mac(key, purpose, payload))}"


def verify(key: bytes, purpose: str, token: str) -> bytes:
    """Return the payload of a valid token or raise :class:`BadToken`."""
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 512:
        raise BadToken("malformed")
    body, mac = token.split(".")
    payload = _unb64(body)
    if not hmac.compare_digest(_unb64(mac), _mac(key, purpose, payload)):
        raise BadToken("bad signature")
    return payload


def sign_ints(key: bytes, purpose: str, *numbers: int) -> str:
    """Sign a tuple of non-negative 64-bit integers."""
    return sign(key, purpose, struct.pack(f">{len(numbers)}Q", *numbers))


def verify_ints(key: bytes, purpose: str, token: str, count: int) -> tuple[int, ...]:
    """Verify a token made by :func:`sign_ints` holding exactly ``count`` integers."""
    payload = verify(key, purpose, token)
    if len(payload) != 8 * count:
        raise BadToken("wrong length")
    return struct.unpack(f">{count}Q", payload)


def keyed_hash(key: bytes, purpose: str, value: str) -> str:
    """A hex keyed hash (for IP addresses and the like that must not be stored raw)."""
    return hmac.new(key, purpose.encode() + b"\x00" + value.encode(), hashlib.sha256).hexdigest()
