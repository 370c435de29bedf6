"""Messages from files for ``wildmail inbound process``: single messages, mbox files, standard input."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from inbound.intake import Arrival


class SourceError(ValueError):
    """A file that cannot be read; the message names it."""


def _cut(stream: BinaryIO, limit: int) -> tuple[bytes, int]:
    """At most ``limit + 1`` bytes (enough to know it is too big), and the size when known."""
    data = stream.read(limit + 1)
    return data, len(data)


def arrivals(name: str, limit: int, stdin: BinaryIO) -> Iterator[tuple[str, Arrival]]:
    """``(label, arrival)`` for each message in ``name`` (``-`` for standard input; an mbox file
    yields each of its messages, labelled ``file#n``)."""
    if name == "-":
        data, size = _cut(stdin, limit)
        yield "-", Arrival(data, "file", size=size if size <= limit else -1)
        return
    path = Path(name)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(5)
            handle.seek(0)
            if head != b"From " or size > limit:
                data = handle.read(min(size, limit + 1))
                yield name, Arrival(data, "file", size=size)
                return
    except OSError as exc:
        raise SourceError(f"{name}: cannot read ({exc.strerror or exc})") from None
    box = mailbox.mbox(path, create=False)
    try:
        for n, key in enumerate(box.iterkeys(), start=1):
            raw = box.get_bytes(key)
            yield f"{name}#{n}", Arrival(raw[: limit + 1], "file", size=len(raw))
    finally:
        box.close()
