"""A body part quoted-printable encoded once, with per-recipient values spliced in as bytes.

The compiled text, cut at its placeholders once (``campaigns.compiled.Template``), has each literal
piece encoded once and ends with a soft line break (``=`` CRLF), which decodes to nothing,
so per recipient only the short values (name, tracking URLs) are encoded and joined. The
decoded result is exactly the template filled with the values (tests compare it with a reference).
"""

from __future__ import annotations

import binascii
import html
from collections.abc import Mapping

from campaigns.compiled import MissingField, Template
from delivery.smtp_data import stuff

CRLF = b"\r\n"
SOFT_BREAK = b"=\r\n"
LIMIT = 76


def relaxed_lines(chunk: bytes) -> bool:
    """Whether whole lines of body text are already in DKIM's relaxed form (RFC 6376 3.4.4): no
    tab, no run of spaces, no space before a line break. Pieces and values start at a line start
    and end with a line break, so a body made of such chunks needs no canonicalisation."""
    return b"\t" not in chunk and b"  " not in chunk and b" \r\n" not in chunk


def crlf(text: str) -> str:
    """``text`` with every line break as CRLF."""
    if "\r" not in text and "\n" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def encode_piece(text: str) -> bytes:
    """QP bytes of ``text`` ending in a line break (hard if ``text`` ends with one, else soft)."""
    if not text:
        return b""
    if (
        len(text) < LIMIT
        and text.isascii()
        and text.isprintable()
        and "=" not in text
        and text[-1] != " "
        and text != "."  # b2a_qp quotes a lone dot line
    ):
        return text.encode("ascii") + SOFT_BREAK  # nothing to quote: the common case for URLs and names
    return encode_general(text)


def encode_general(text: str) -> bytes:
    """:func:`encode_piece` without its fast path for short printable ASCII (``text`` not empty)."""
    encoded = binascii.b2a_qp(crlf(text).encode("utf-8"), istext=True)
    if CRLF not in encoded:  # no hard break seen: b2a_qp used bare LF for its soft breaks
        encoded = encoded.replace(b"\n", CRLF)
    if encoded.endswith(CRLF):
        return encoded
    head, sep, last = encoded.rpartition(CRLF)
    if len(last) >= LIMIT:  # room for the trailing "=": split before an escape, never inside
        cut = LIMIT - 6
        while last[cut - 1 : cut] == b"=" or last[cut - 2 : cut - 1] == b"=":
            cut -= 1
        last = last[:cut] + b"=" + CRLF + last[cut:]
    return head + sep + last + b"=" + CRLF


class QPTemplate:
    """One body part (``escape`` = values are HTML-escaped), prepared for fast personalising."""

    def __init__(self, template: Template, *, escape: bool) -> None:
        self.escape = escape
        literals = list(template.literals)
        if not crlf(literals[-1]).endswith("\r\n"):
            literals[-1] += "\n"
        self.pieces = tuple(encode_piece(text) for text in literals)
        self.wire_pieces = tuple(stuff(p) for p in self.pieces)  # every piece starts at a line start
        self.relaxed = all(relaxed_lines(p) for p in self.pieces)
        self.names = template.names

    def encode_values(self, values: Mapping[str, str]) -> list[bytes]:
        """The encoded value of each placeholder, in order (each starts at a line start)."""
        out = []
        escape = self.escape
        for name in self.names:
            try:
                value = values[name]
            except KeyError:
                raise MissingField(name) from None
            if escape and ("&" in value or "<" in value or ">" in value or '"' in value or "'" in value):
                value = html.escape(value, quote=True)
            out.append(encode_piece(value))
        return out

    def render(self, values: Mapping[str, str]) -> bytes:
        """The encoded part for one recipient's placeholder values (raw, unescaped)."""
        return b"".join(interleave(self.pieces, self.encode_values(values)))


def interleave(pieces: tuple[bytes, ...], values: list[bytes]) -> list[bytes]:
    """``pieces[0], values[0], pieces[1], ...`` (one more piece than values)."""
    out = [pieces[0]] * (2 * len(values) + 1)
    out[1::2] = values
    out[2::2] = pieces[1:]
    return out
