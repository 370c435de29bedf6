"""``wildmail donations import FILE``: donations from a platform's CSV export.

Columns, by header (any case, in any order; others are ignored): ``id``, ``amount`` (as people
write it: ``25`` or ``25.00``, in the currency's units), ``currency`` (ISO 4217), ``date`` (ISO
8601: ``2026-03-05``, ``2026-03-05T10:00:00Z``; a time without a zone is UTC, a date alone
is the end of that day in UTC, so any click that day comes before it), and optional ``email``,
``wm_cid`` and ``utm_campaign``. ``id``, ``amount``, ``currency`` and ``date`` are required.

A bad row is reported with its line and field and skipped; good rows are stored (in
transactions of :data:`CHUNK` rows), each once per source and ``id``: importing the same file
again changes nothing.
"""

from __future__ import annotations

import codecs
import csv
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import IO

from sqlalchemy import Engine

from donations.intake import Attribution, DonationError, DonationIn, checked, record_donation
from donations.money import MoneyError, currency, minor_units
from wildmail.core.db import write_transaction

COLUMNS = ("id", "amount", "currency", "date", "email", "wm_cid", "utm_campaign")
REQUIRED = ("id", "amount", "currency", "date")
CHUNK = 500
END_OF_DAY = time(23, 59, 59, tzinfo=UTC)


class ImportFileError(ValueError):
    """The file cannot be read as a donations CSV at all (the message names it)."""


@dataclass(frozen=True)
class RowError:
    """One refused row: its line in the file, the column and why."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.field}: {self.message}"


@dataclass
class ImportResult:
    """What an import did: rows read, donations new and already known, matches, refused rows."""

    rows: int = 0
    created: int = 0
    existing: int = 0
    matches: Counter[str] = field(default_factory=Counter)
    errors: list[RowError] = field(default_factory=list)


def _when(text: str) -> datetime:
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), END_OF_DAY)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise DonationError(
            "date", f"{value[:40]!r} is not a date like 2026-03-05 or 2026-03-05T10:00Z"
        ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def parse_row(row: dict[str, str], source: str) -> DonationIn:
    """One CSV row (keys lower-cased) as a checked donation; raises :class:`DonationError`."""
    try:
        code = currency(row.get("currency") or "")
    except MoneyError as exc:
        raise DonationError("currency", str(exc)) from None
    try:
        amount = minor_units(row.get("amount") or "", code)
    except MoneyError as exc:
        raise DonationError("amount", str(exc)) from None
    return checked(
        source=source,
        external_id=row.get("id") or "",
        amount=amount,
        currency_code=code,
        donated_at=_when(row.get("date") or ""),
        email=row.get("email") or "",
        wm_cid=row.get("wm_cid") or "",
        utm_campaign=row.get("utm_campaign") or "",
    )


def _open(path: Path, encoding: str) -> IO[str]:
    decode = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    try:
        return path.open(encoding=decode, newline="")
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot open ({exc.strerror})") from None


def import_donations(
    engine: Engine,
    path: Path,
    attribution: Attribution,
    at: datetime,
    *,
    source: str = "csv",
    encoding: str = "utf-8",
) -> ImportResult:
    """Read ``path`` and store its good rows; raises :class:`ImportFileError` when the file
    cannot be read or lacks a required column (nothing stored then)."""
    result = ImportResult()
    pending: list[DonationIn] = []
    try:
        with _open(path, encoding) as stream:
            reader = csv.reader(stream)
            header = next(reader, None)
            if header is None:
                raise ImportFileError(f"{path}: the file is empty (expected a header: {', '.join(COLUMNS)})")
            names = [h.strip().lower() for h in header]
            missing = [c for c in REQUIRED if c not in names]
            if missing:
                raise ImportFileError(
                    f"{path}, line 1: missing column(s) {', '.join(missing)} (found: {', '.join(header)})"
                )
            for values in reader:
                if not any(v.strip() for v in values):
                    continue
                result.rows += 1
                row = dict(zip(names, values, strict=False))
                try:
                    pending.append(parse_row(row, source))
                except DonationError as exc:
                    result.errors.append(RowError(reader.line_num, exc.field, exc.reason))
                if len(pending) >= CHUNK:
                    _store(engine, pending, attribution, at, result)
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path}: not {encoding} text ({exc.reason}); try --encoding latin-1") from None
    except csv.Error as exc:
        raise ImportFileError(f"{path}: not a CSV file ({exc})") from None
    _store(engine, pending, attribution, at, result)
    return result


def _store(
    engine: Engine, pending: list[DonationIn], attribution: Attribution, at: datetime, result: ImportResult
) -> None:
    if not pending:
        return
    with write_transaction(engine) as session:
        for item in pending:
            recorded = record_donation(session, item, attribution, at)
            if recorded.created:
                result.created += 1
                result.matches[recorded.match] += 1
            else:
                result.existing += 1
    pending.clear()
