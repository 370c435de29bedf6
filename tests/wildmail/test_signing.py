"""Signed tokens: the MAC is standard HMAC-SHA256, and any change to a token is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wildmail.core.signing import BadToken, ints_verifier, sign, sign_ints, verify, verify_ints

keys = st.binary(min_size=1, max_size=200)  # both sides of SHA-256's 64-byte block
purposes = st.sampled_from(["open", "click", "unsubscribe", "ip"])
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@given(key=keys, purpose=purposes, payload=st.binary(max_size=40))
def test_the_mac_is_truncated_hmac_sha256_and_round_trips(key, purpose, payload):
    token = sign(key, purpose, payload)
    body, mac = token.split(".")
    expected = hmac.new(key, purpose.encode() + b"\x00" + payload, hashlib.sha256).digest()[:12]
    assert verify(key, purpose, token) == payload
    assert sign(key, purpose, payload) == token
    assert base64.urlsafe_b64decode(body + "==") == payload or not payload
    assert base64.urlsafe_b64decode(mac + "==") == expected


@given(
    key=keys,
    numbers=st.lists(st.integers(min_value=0, max_value=2**64 - 1), min_size=1, max_size=3),
    position=st.integers(min_value=0),
    replacement=st.sampled_from(ALPHABET + "!.=+/ %"),
)
def test_any_changed_character_is_refused(key, numbers, position, replacement):
    token = sign_ints(key, "click", *numbers)
    i = position % len(token)
    changed = token[:i] + replacement + token[i + 1 :]
    if changed == token:
        return
    with pytest.raises(BadToken):
        verify_ints(key, "click", changed, len(numbers))


@given(key=keys, numbers=st.lists(st.integers(min_value=0, max_value=2**64 - 1), min_size=1, max_size=3))
def test_a_token_is_bound_to_its_purpose_key_and_count(key, numbers):
    token = sign_ints(key, "click", *numbers)
    assert verify_ints(key, "click", token, len(numbers)) == tuple(numbers)
    for attempt in (
        lambda: verify_ints(key, "open", token, len(numbers)),
        lambda: verify_ints(key + b"x", "click", token, len(numbers)),
        lambda: verify_ints(key, "click", token, len(numbers) + 1),
        lambda: verify_ints(key, "click", token + "A", len(numbers)),
        lambda: verify_ints(key, "click", "!" + token, len(numbers)),
    ):
        with pytest.raises(BadToken):
            attempt()


def _reference_verify_ints(key: bytes, purpose: str, token: str, count: int) -> tuple[int, ...]:
    """The obvious verification the fast IntsVerifier replaces: generic verify, then unpack."""
    payload = verify(key, purpose, token)
    if len(payload) != 8 * count:
        raise BadToken("wrong length")
    return struct.unpack(f">{count}Q", payload)


def _outcome(check, *args):
    try:
        return check(*args)
    except BadToken:
        return "refused"


@given(
    numbers=st.lists(st.integers(min_value=0, max_value=2**64 - 1), min_size=1, max_size=3),
    count=st.integers(min_value=1, max_value=3),
    edits=st.lists(
        st.tuples(st.integers(min_value=0), st.sampled_from([*ALPHABET, "!", ".", "=", "+", "/", "é", ""])),
        max_size=3,
    ),
    suffix=st.sampled_from(["", "=", "==", "A", ".gif"]),
)
def test_the_fast_verifier_agrees_with_the_generic_one(numbers, count, edits, suffix):
    key = b"k" * 32
    token = sign_ints(key, "open", *numbers)
    for position, replacement in edits:  # "" deletes a character
        i = position % len(token)
        token = token[:i] + replacement + token[i + 1 :]
    token += suffix
    fast = _outcome(ints_verifier(key, "open", count), token)
    assert fast == _outcome(_reference_verify_ints, key, "open", token, count)
    assert (fast == tuple(numbers)) == (token == sign_ints(key, "open", *numbers) and count == len(numbers))


@given(text=st.text(max_size=60))
def test_the_fast_verifier_refuses_any_text_cleanly(text):
    assert _outcome(ints_verifier(b"key", "open", 1), text) == "refused"
