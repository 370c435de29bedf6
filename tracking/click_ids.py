"""``wm_cid``: the signed click id a donation link carries to the donation page.

A click on a donation link redirects to the link's URL with UTM parameters and ``wm_cid``, a
compact signed value made from the click token's own ids (delivery and link) with a purpose of
its own, so it cannot be used as a click, open or unsubscribe token, nor those as a click id.
The donation platform hands it back with the donation (a hidden form field, Stripe's
``client_reference_id`` or metadata) and :mod:`donations.matching` verifies it: no database
query is needed to make it, and none to check it.

It is the signed token without its dot: 38 characters of letters, digits, ``-`` and ``_`` (the
ids, then the 96-bit MAC), because some platforms keep only those characters in a reference
field (Stripe's ``client_reference_id`` on payment links drops any other value).
"""

from __future__ import annotations

from wildmail.core.signing import BadToken, IntsSigner, ints_signer, verify_ints

PARAM = "wm_cid"
PURPOSE = "donation-click-id"
_BODY = 22  # base64url characters of two 64-bit integers, unpadded
LENGTH = _BODY + 16  # and of the 12-byte MAC

__all__ = ["LENGTH", "PARAM", "PURPOSE", "BadToken", "click_id", "parse_click_id", "signer"]


def signer(key: bytes) -> IntsSigner:
    """The signer :func:`click_id` uses (the tracker keeps one: no cache lookup per click)."""
    return ints_signer(key, PURPOSE, 2)


def click_id(key: bytes, delivery_id: int, link_id: int, sign: IntsSigner | None = None) -> str:
    """The ``wm_cid`` of one delivery's click on one link."""
    return (sign or signer(key))(delivery_id, link_id).replace(".", "", 1)


def parse_click_id(key: bytes, value: str) -> tuple[int, int]:
    """(delivery id, link id) of a ``wm_cid``; raises :class:`BadToken` when it is not one of ours."""
    value = value.strip() if isinstance(value, str) else ""
    if len(value) != LENGTH:
        raise BadToken("malformed")
    delivery_id, link_id = verify_ints(key, PURPOSE, f"{value[:_BODY]}.{value[_BODY:]}", 2)
    return delivery_id, link_id
