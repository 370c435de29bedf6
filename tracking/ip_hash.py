"""Keyed hashes of client IP addresses: the only form in which an address is ever stored."""

from __future__ import annotations

from wildmail.core.signing import keyed_hash

IP_HASH_PURPOSE = "ip"
CACHE_SIZE = 10_000  # addresses remembered; a busy proxy or mail gateway sends many requests


class IpHasher:
    """``hash(ip)``: HMAC of the address under the site's secret, memoised. Without a key no
    address is kept at all (the hash is empty)."""

    def __init__(self, key: bytes | None) -> None:
        self._key = key
        self._known: dict[str, str] = {}

    def hash(self, ip: str) -> str:
        """The keyed hash of ``ip`` ("" for no address, or when there is no key)."""
        if not ip or self._key is None:
            return ""
        digest = self._known.get(ip)
        if digest is None:
            if len(self._known) >= CACHE_SIZE:
                self._known.clear()
            digest = self._known[ip] = keyed_hash(self._key, IP_HASH_PURPOSE, ip)
        return digest
