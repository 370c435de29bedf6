"""DKIM signatures (RFC 6376), relaxed/relaxed, signed by OpenSSL through ``cryptography``.

One signer for every message the product sends (campaign mail, test sends, confirmations):
:meth:`DkimSigner.sign` takes the exact message bytes that go on the wire (CRLF line ends,
before dot-stuffing) and returns the ``DKIM-Signature`` header lines to put in front of them.
RSA-SHA256 (PKCS#1 v1.5) always; Ed25519-SHA256 (RFC 8463) as a second signature when an
Ed25519 key is configured too. The key objects and the constant part of each signature header
are prepared once; the body hash is per message (bodies are personalised).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from wildmail.core.settings import Settings

CRLF = b"\r\n"
# Signed when present, in this order; OVERSIGNED ones are listed once more than they occur, so
# nobody can add another copy (or a first one) without breaking the signature.
SIGNED_HEADERS = (
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"MIME-Version",
    b"Content-Type",
    b"List-Id",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"Feedback-ID",
    b"Reply-To",
)
OVERSIGNED = frozenset((b"from", b"subject", b"list-unsubscribe", b"list-unsubscribe-post"))
SIGNED_LOWER = tuple(name.lower() for name in SIGNED_HEADERS)
LINE = 76  # fold the signature header near this width

_WSP_RUN = re.compile(rb"[ \t]+")
_FIELD_START = re.compile(rb"\r\n(?![ \t])")  # a line break that is not a fold

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@lru_cache(maxsize=256)  # a campaign's fixed fields (From, Subject, List-Id ...) recur in every message
def relaxed_header(name: bytes, value: bytes) -> bytes:
    """One header field in relaxed form (RFC 6376 3.4.2): ``name:value`` plus CRLF, the name
    lowercased, the value unfolded, whitespace runs made one space, outer whitespace dropped."""
    value = _WSP_RUN.sub(b" ", value.replace(CRLF, b"")).strip(b" ")
    return name.strip(b" \t").lower() + b":" + value + CRLF


def relaxed_body(body: bytes) -> bytes:
    """The body in relaxed form (RFC 6376 3.4.4): whitespace runs made one space, whitespace at
    line ends dropped, empty lines at the end dropped, a CRLF added when the body is not empty
    and does not end with one (as dkimpy does)."""
    body, end = _relaxed_span(body)
    return body[:end] + CRLF if end else b""


def _relaxed_span(body: bytes) -> tuple[bytes, int]:
    """``(text, end)``: the relaxed body is ``text[:end]`` plus CRLF (nothing when ``end`` is 0);
    a body that needs no change is not copied."""
    if b"\t" in body or b"  " in body:
        body = _WSP_RUN.sub(b" ", body)
    if b" \r\n" in body:
        body = body.replace(b" \r\n", CRLF)
    end = len(body)
    while body.endswith(CRLF, 0, end):
        end -= 2
    return body, end


def body_hash(body: bytes, *, relaxed: bool = False) -> bytes:
    """Base64 SHA-256 of the relaxed body (``bh=``); ``relaxed``: its lines are known to be in
    relaxed form already."""
    if relaxed:
        text, end = body, len(body)
        while text.endswith(CRLF, 0, end):
            end -= 2
    else:
        text, end = _relaxed_span(body)
    digest = hashlib.sha256()
    if end:
        digest.update(memoryview(text)[:end])
        digest.update(CRLF)
    return base64.b64encode(digest.digest())


def split_message(message: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """``([(name, raw value)...], body)`` of a CRLF message (values keep their folds)."""
    head, sep, body = message.partition(b"\r\n\r\n")
    if not sep:
        head = head.removesuffix(CRLF)
    fields = []
    for raw in _FIELD_START.split(head):
        name, colon, value = raw.partition(b":")
        if colon:
            fields.append((name, value))
    return fields, body


def _fold_list(names: Sequence[bytes]) -> bytes:
    """``h=`` value folded at colons so no line gets much longer than :data:`LINE`."""
    out, width = b"h=", 18
    for i, name in enumerate(names):
        piece = name if i == 0 else b":" + name
        if width + len(piece) > LINE:
            out += CRLF + b"  "
            width = 2
        out += piece
        width += len(piece)
    return out


@lru_cache(maxsize=64)
def _h_tag(counts: tuple[int, ...]) -> bytes:
    """The folded ``h=`` tag for messages holding ``counts[i]`` copies of ``SIGNED_HEADERS[i]``."""
    names: list[bytes] = []
    for name, count in zip(SIGNED_HEADERS, counts, strict=True):
        names.extend([name] * (count + (name.lower() in OVERSIGNED)))
    return _fold_list(names)


def _fold_base64(value: bytes, first: int) -> bytes:
    """Base64 text broken into lines (whitespace inside ``b=`` is ignored by verifiers)."""
    lines = [value[:first]]
    for start in range(first, len(value), LINE - 2):
        lines.append(value[start : start + LINE - 2])
    return (CRLF + b"  ").join(line for line in lines if line)


@dataclass(frozen=True)
class DkimKey:
    """One signing key: selector, signing domain (``d=``) and the loaded private key."""

    selector: str
    domain: str
    key: PrivateKey = field(repr=False)

    @property
    def algorithm(self) -> bytes:
        return b"ed25519-sha256" if isinstance(self.key, ed25519.Ed25519PrivateKey) else b"rsa-sha256"

    def signature(self, data: bytes) -> bytes:
        """The raw signature of the canonical header data."""
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            return self.key.sign(hashlib.sha256(data).digest())  # RFC 8463: Ed25519 over the SHA-256
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())


class DkimSigner:
    """Signs whole messages with one or more keys (RSA first, then Ed25519)."""

    def __init__(self, keys: Sequence[DkimKey]) -> None:
        if not keys:
            raise ValueError("DkimSigner needs at least one key")
        self.keys = tuple(keys)
        self._heads = tuple(
            b"v=1; a=%s; c=relaxed/relaxed;\r\n d=%s; s=%s"
            % (k.algorithm, k.domain.encode(), k.selector.encode())
            for k in self.keys
        )

    def sign(self, message: bytes, timestamp: int | None = None, *, relaxed_body: bool = False) -> bytes:
        """The ``DKIM-Signature:`` header lines (CRLF-terminated) to prepend to ``message``;
        ``relaxed_body``: the caller knows the body's lines are already in relaxed form (only
        empty lines at its end may go), which saves scanning it."""
        fields, body = split_message(message)
        bh = body_hash(body, relaxed=relaxed_body)
        by_name: dict[bytes, list[bytes]] = {}
        for name, value in fields:
            by_name.setdefault(name.strip(b" \t").lower(), []).append(value)
        signed: list[bytes] = []
        for lower in SIGNED_LOWER:
            present = by_name.get(lower)
            if present:  # RFC 6376 5.4.2: the last instance is signed first
                signed.extend(relaxed_header(lower, value) for value in reversed(present))
        counts = tuple(len(by_name.get(lower, ())) for lower in SIGNED_LOWER)
        tail = b";\r\n t=%d; " % (int(time.time()) if timestamp is None else timestamp)
        tail += _h_tag(counts) + b";\r\n bh=" + bh + b";\r\n b="
        head_data = b"".join(signed)
        out = b""
        for key, head in zip(self.keys, self._heads, strict=True):
            text = b"DKIM-Signature: " + head + tail
            data = head_data + relaxed_header(b"dkim-signature", text.partition(b":")[2])[:-2]
            value = base64.b64encode(key.signature(data))
            out += text + _fold_base64(value, LINE - 3) + CRLF
        return out


def load_signer(settings: Settings) -> DkimSigner | None:
    """The signer for the keys named in ``settings`` (None without DKIM); a bad key file raises
    :class:`~wildmail.core.settings.SettingsError` naming the setting."""
    if not (settings.dkim_selector and settings.dkim_private_key_file):
        return None
    domain = settings.dkim_domain or settings.sender_address.rpartition("@")[2]
    keys = [DkimKey(settings.dkim_selector, domain, settings.dkim_private_key())]
    ed_key = settings.dkim_ed25519_private_key()
    if ed_key is not None:
        keys.append(DkimKey(settings.dkim_ed25519_selector, domain, ed_key))
    return DkimSigner(keys)


def dns_record(key: PrivateKey) -> str:
    """The TXT record value publishing ``key``'s public half (``v=DKIM1; k=...; p=...``)."""
    public = key.public_key()
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return "v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
