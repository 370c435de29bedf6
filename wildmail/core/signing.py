"""HMAC-signed compact tokens, checked in constant time.

A token is ``base64url(payload) + "." + base64url(mac)`` where the MAC covers a
purpose string too, so a token minted for one use cannot be replayed for another.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import re
import struct
from functools import lru_cache
from typing import Any

MAC_BYTES = 12  # 96-bit truncated HMAC-SHA256: short URLs, forgery still infeasible


_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_INTS = {n: struct.Struct(f">{n}Q") for n in (1, 2, 3)}


class BadToken(ValueError):
    """The token is malformed, tampered with, expired or minted for another purpose."""


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    # strict: a character outside the alphabet is an error, not silently skipped
    try:
        padded = (text + "=" * (-len(text) % 4)).encode("ascii").translate(_FROM_URLSAFE)
        return binascii.a2b_base64(padded, strict_mode=True)
    except (ValueError, TypeError, binascii.Error):
        raise BadToken("not base64") from None


@lru_cache(maxsize=64)
def _keyed(key: bytes, purpose: str) -> tuple[Any, Any]:
    """The inner and outer SHA-256 states of HMAC (RFC 2104) after the key, the inner one also
    after the purpose prefix. Copying two hash objects per token is cheaper than hmac.HMAC
    (docs/performance.md)."""
    block = 64  # SHA-256's block size
    padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\x00")
    inner = hashlib.sha256(padded.translate(_IPAD) + purpose.encode() + b"\x00")
    outer = hashlib.sha256(padded.translate(_OPAD))
    return inner, outer


def _mac(key: bytes, purpose: str, payload: bytes) -> bytes:
    inner_state, outer_state = _keyed(key, purpose)
    inner = inner_state.copy()
    inner.update(payload)
    outer = outer_state.copy()
    outer.update(inner.digest())
    digest: bytes = outer.digest()
    return digest[:MAC_BYTES]


def sign(key: bytes, purpose: str, payload: bytes) -> str:
    """Return a URL-safe token carrying ``payload``."""
    return f"{_b64(payload)}.{_b64(_mac(key, purpose, payload))}"


def verify(key: bytes, purpose: str, token: str) -> bytes:
    """Return the payload of a valid token or raise :class:`BadToken`."""
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 512:
        raise BadToken("malformed")
    body, mac = token.split(".")
    payload = _unb64(body)
    # Only the canonical spelling is accepted: "+" for "-", or the last character's unused bits
    # set, would decode to the same bytes. The MAC is compared as the text it must be.
    if _b64(payload) != body:
        raise BadToken("not canonical")
    expected = _b64(_mac(key, purpose, payload)).encode("ascii")
    if not hmac.compare_digest(mac.encode("utf-8", "surrogatepass"), expected):
        raise BadToken("bad signature")
    return payload


def sign_ints(key: bytes, purpose: str, *numbers: int) -> str:
    """Sign a tuple of non-negative 64-bit integers."""
    return sign(key, purpose, struct.pack(f">{len(numbers)}Q", *numbers))


def verify_ints(key: bytes, purpose: str, token: str, count: int) -> tuple[int, ...]:
    """Verify a token made by :func:`sign_ints` holding exactly ``count`` integers."""
    return ints_verifier(key, purpose, count)(token)


_MAC_CHARS = (MAC_BYTES * 4 + 2) // 3  # base64 characters of the MAC, without padding


class IntsVerifier:
    """:func:`verify_ints` for one key, purpose and count, with the work per token cut to the
    minimum: every open pixel request verifies a token. The token's shape is fixed by the count,
    so it is checked by its length; one ASCII encoding serves both halves; the body must be the
    canonical spelling of its payload and the MAC the text it must be (compared in constant time)."""

    def __init__(self, key: bytes, purpose: str, count: int) -> None:
        self._inner, self._outer = _keyed(key, purpose)
        self._body = (8 * count * 4 + 2) // 3  # base64 characters of the payload, without padding
        self._padding = b"=" * (-self._body % 4)
        self._length = self._body + 1 + _MAC_CHARS
        self._layout = _INTS.get(count) or struct.Struct(f">{count}Q")
        self._size = 8 * count

    def __call__(self, token: str) -> tuple[int, ...]:
        """The integers of a valid token; raises :class:`BadToken` otherwise."""
        n = self._body
        if not isinstance(token, str) or len(token) != self._length or token[n] != ".":
            raise BadToken("malformed")
        try:
            raw = token.encode("ascii")
            payload = binascii.a2b_base64(raw[:n].translate(_FROM_URLSAFE) + self._padding, strict_mode=True)
        except (UnicodeEncodeError, binascii.Error):
            raise BadToken("not base64") from None
        if (
            len(payload) != self._size
            or binascii.b2a_base64(payload, newline=False)[:n].translate(_URLSAFE) != raw[:n]
        ):
            raise BadToken("not canonical")
        inner = self._inner.copy()
        inner.update(payload)
        outer = self._outer.copy()
        outer.update(inner.digest())
        expected = binascii.b2a_base64(outer.digest()[:MAC_BYTES], newline=False).translate(_URLSAFE)
        if not hmac.compare_digest(raw[n + 1 :], expected.rstrip(b"=")):
            raise BadToken("bad signature")
        return self._layout.unpack(payload)


@lru_cache(maxsize=64)
def ints_verifier(key: bytes, purpose: str, count: int) -> IntsVerifier:
    """The (shared) :class:`IntsVerifier` for ``key``, ``purpose`` and ``count``."""
    return IntsVerifier(key, purpose, count)


LOCAL_MAC_BYTES = 10  # 80 bits: 20 hex digits in an address's local part


def sign_local(key: bytes, purpose: str, number: int) -> str:
    """``<number>-<mac>`` for an email address's local part: digits and lower-case hex only, so a
    relay that changes the case of an address does not break it (hex is C code; base32 is not)."""
    return f"{number}-{_mac(key, purpose, b'%d' % number)[:LOCAL_MAC_BYTES].hex()}"


_LOCAL = re.compile(r"(\d{1,19})-([0-9a-f]{20})")


def verify_local(key: bytes, purpose: str, text: str) -> int:
    """The number of a :func:`sign_local` text (any case); raises :class:`BadToken`."""
    found = _LOCAL.fullmatch(text.lower()) if isinstance(text, str) else None
    if found is None:
        raise BadToken("malformed")
    number = int(found.group(1))
    if found.group(1) != str(number):
        raise BadToken("not canonical")
    expected = sign_local(key, purpose, number).encode("ascii")
    if not hmac.compare_digest(found.group(0).encode("ascii"), expected):
        raise BadToken("bad signature")
    return number


def keyed_hash(key: bytes, purpose: str, value: str) -> str:
    """A hex keyed hash (for IP addresses and the like that must not be stored raw)."""
    return hmac.new(key, purpose.encode() + b"\x00" + value.encode(), hashlib.sha256).hexdigest()


class IntsSigner:
    """:func:`sign_ints` for one key, purpose and count, with the per-token work cut as in
    :class:`IntsVerifier` (a redirect signs one for each donation click)."""

    def __init__(self, key: bytes, purpose: str, count: int) -> None:
        self._inner, self._outer = _keyed(key, purpose)
        self._layout = _INTS.get(count) or struct.Struct(f">{count}Q")

    def __call__(self, *numbers: int) -> str:
        """The token of ``numbers`` (``count`` non-negative 64-bit integers)."""
        payload = self._layout.pack(*numbers)
        inner = self._inner.copy()
        inner.update(payload)
        outer = self._outer.copy()
        outer.update(inner.digest())
        body = binascii.b2a_base64(payload, newline=False).translate(_URLSAFE).rstrip(b"=")
        mac = binascii.b2a_base64(outer.digest()[:MAC_BYTES], newline=False).translate(_URLSAFE).rstrip(b"=")
        return (body + b"." + mac).decode("ascii")


@lru_cache(maxsize=64)
def ints_signer(key: bytes, purpose: str, count: int) -> IntsSigner:
    """The (shared) :class:`IntsSigner` for ``key``, ``purpose`` and ``count``."""
    return IntsSigner(key, purpose, count)
