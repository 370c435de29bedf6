"""Fast, streaming, idempotent CSV import of subscribers into one list.

Rows are parsed here and handed in chunks of a few thousand to :mod:`subscribers.import_writer`,
which upserts each chunk with bulk statements (``INSERT ... ON CONFLICT``; COPY on PostgreSQL) in
its own transaction, on writer threads so parsing overlaps database work. Memory stays flat except
for an 8-byte-per-address set used to spot duplicates within the file.
Suppressed, unsubscribed, bounced and complained addresses are never (re)activated.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from subscribers.csv_rows import ImportFileError, Reject, RejectWriter, Row, parse_row, read_rows
from subscribers.import_writer import ChunkJob, ImportReport, Writer
from subscribers.lifecycle import require_list
from subscribers.models import SubscriberStatus

__all__ = ["ImportFileError", "ImportReport", "import_csv"]

Progress = Callable[[int, int, int | None], None]
"""``progress(rows_read, bytes_read, bytes_total_or_None)``, called after every chunk."""


def _open(
    source: str | Path | IO[str] | IO[bytes], encoding: str, close: list[Callable[[], Any]]
) -> tuple[IO[str], Callable[[], int], int | None, str]:
    """A text stream, its byte position, its size when known, and its name for messages."""
    decode = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    if isinstance(source, io.TextIOBase):
        return cast(IO[str], source), lambda: 0, None, getattr(source, "name", "<stream>")
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            raw: IO[bytes] = path.open("rb")
            info = os.fstat(raw.fileno())
        except OSError as exc:
            raise ImportFileError(f"{path}: cannot open ({exc.strerror})") from None
        close.append(raw.close)
        name, size = str(path), info.st_size if stat.S_ISREG(info.st_mode) else None
    else:  # a binary stream such as standard input
        raw, name, size = cast(IO[bytes], source), getattr(source, "name", "<stdin>"), None
        if not isinstance(name, str):
            name = "<stdin>"
    text = io.TextIOWrapper(cast(Any, raw), encoding=decode, errors="surrogateescape", newline="")
    close.insert(0, text.detach)  # the caller's stream stays open
    position = raw.tell if size is not None else (lambda: 0)
    return text, position, size, name


def import_csv(
    target: Engine | Session,
    source: str | Path | IO[str] | IO[bytes],
    list_slug: str,
    *,
    status: str = SubscriberStatus.ACTIVE.value,
    dry_run: bool = False,
    progress: Progress | None = None,
    rejects: IO[str] | None = None,
    at: datetime | None = None,
    chunk_size: int = 5000,
    encoding: str = "utf-8",
) -> ImportReport:
    """Import a CSV into ``list_slug``; returns an :class:`ImportReport`.

    With an Engine every chunk commits on its own (a rerun finishes an interrupted import);
    with a Session everything runs in the caller's transaction. Raises ``UnknownList`` or
    :class:`ImportFileError` (rows before a broken line stay imported when committing per chunk).
    ``source`` is a path, a text stream, or a binary stream (standard input) decoded with ``encoding``;
    bytes that are not text in it reject their row. Rows imported with something dropped (an
    unknown time zone) are counted in ``report.warned`` and written to ``rejects`` too.
    """
    if status not in (SubscriberStatus.ACTIVE.value, SubscriberStatus.PENDING.value):
        raise ValueError(f"import status must be 'active' or 'pending', not {status!r}")
    started = time.perf_counter()
    at = at or datetime.now(UTC)
    report = ImportReport(dry_run=dry_run)
    if isinstance(target, Session):
        list_id = require_list(target, list_slug).id
    else:
        with Session(target) as session:
            list_id = require_list(session, list_slug).id
    job = ChunkJob(list_id, status, at, dry_run, report, list_slug=list_slug)
    handles: list[Callable[[], Any]] = []
    db = Writer(target, job)
    try:
        stream, position, total, name = _open(source, encoding, handles)
        header, lines = read_rows(stream, name, encoding)
        writer = RejectWriter(rejects, header) if rejects is not None else None
        seen: set[int] = set()
        chunk: list[Row] = []
        try:
            for item in lines:
                report.rows += 1
                if isinstance(item, Reject):
                    parsed: Row | Reject = item
                    line, fields = item.line, item.fields
                else:
                    line, fields = item
                    parsed = parse_row(header, fields, line, encoding)
                if isinstance(parsed, Row):
                    key = int(parsed.digest[:16], 16)
                    if key not in seen:
                        seen.add(key)
                        chunk.append(parsed)
                        if parsed.warning is not None:
                            report.warn(Reject(line, parsed.warning))
                            if writer:
                                writer.write(
                                    Reject(line, f"imported with a warning: {parsed.warning}", fields)
                                )
                        if len(chunk) >= chunk_size:
                            db.put(chunk)
                            chunk = []
                            if progress:
                                progress(report.rows, position(), total)
                        continue
                    report.duplicates += 1
                    parsed = Reject(line, "duplicate: the same address appears earlier in the file", fields)
                report.reject(parsed)
                if writer:
                    writer.write(parsed)
        finally:  # keep the valid rows read before a broken line
            if chunk:
                db.put(chunk)
        db.close()
        if progress:
            progress(report.rows, total or position(), total)
    finally:
        db.stop()
        for close in handles:
            close()
        report.seconds = time.perf_counter() - started
    return report
