"""SMTP DATA framing (RFC 5321 4.5.2): leading dots doubled, the end-of-data line appended.

The one dot-stuffing function: the worker's prebuilt wire form stuffs its static pieces once
and each per-recipient insert on its own (:mod:`delivery.message`); a message without a wire
form is framed whole by :func:`frame` before it goes out (:mod:`delivery.smtp_transport`).
"""

from __future__ import annotations

CRLF = b"\r\n"
END_OF_DATA = b".\r\n"


def stuff(data: bytes) -> bytes:
    """``data`` (which starts at a line start) with each line's leading dot doubled. Chunks
    that each start at a line start may be stuffed one by one and joined."""
    if b"\r\n." in data:
        data = data.replace(b"\r\n.", b"\r\n..")
    return b"." + data if data[:1] == b"." else data


def frame(data: bytes) -> bytes:
    """CRLF-terminated content stuffed, plus the end-of-data line (a missing final CRLF added)."""
    body = stuff(data)
    return body + (END_OF_DATA if body.endswith(CRLF) else CRLF + END_OF_DATA)
