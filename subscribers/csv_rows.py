"""Reading subscriber CSV files: header mapping, per-row validation, rejects output.

Columns are matched by header (case-insensitive): ``email`` (or ``e-mail``, ``email address``),
``name``, ``timezone`` (``tz``), ``locale`` (``language``); every other non-empty header becomes an
attribute key (lower-cased). Row numbers are the file's line numbers (the header is line 1).
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from subscribers.addresses import (
    InvalidValue,
    normalise_email,
    normalise_locale,
    normalise_name,
    normalise_timezone,
)

ALIASES = {
    "email": "email", "e-mail": "email", "email address": "email", "email_address": "email", "mail": "email",
    "name": "name", "full name": "name", "full_name": "name",
    "timezone": "timezone", "time zone": "timezone", "time_zone": "timezone", "tz": "timezone",
    "locale": "locale", "language": "locale", "lang": "locale",
}  # fmt: skip
MAX_ATTRIBUTE = 500


class ImportFileError(ValueError):
    """The file as a whole cannot be read (no email column, not UTF-8, broken CSV)."""


@dataclass(slots=True)
class Row:
    """One valid row, normalised."""

    line: int
    email: str
    digest: str
    name: str
    timezone: str | None
    locale: str | None
    attributes: dict[str, Any]


@dataclass(slots=True)
class Reject:
    """One refused row: where and why."""

    line: int
    reason: str
    fields: list[str] = field(default_factory=list)


@dataclass
class Header:
    """Where each known field sits, and which columns become attributes."""

    names: list[str]
    email: int
    name: int | None
    timezone: int | None
    locale: int | None
    attributes: list[tuple[int, str]]


def parse_header(fields: list[str], source: str) -> Header:
    """Map header cells to fields; raises :class:`ImportFileError` without an email column."""
    cleaned = [f.strip().lstrip("\ufeff").strip() for f in fields]
    known: dict[str, int] = {}
    attrs: list[tuple[int, str]] = []
    seen: set[str] = set()
    for i, cell in enumerate(cleaned):
        key = cell.lower()
        if not key:
            continue
        if key in seen:
            raise ImportFileError(f"{source}: line 1: column {cell!r} appears twice in the header")
        seen.add(key)
        target = ALIASES.get(key)
        if target is None:
            attrs.append((i, key))
        elif target in known:
            raise ImportFileError(f"{source}: line 1: two columns map to {target!r}")
        else:
            known[target] = i
    if "email" not in known:
        raise ImportFileError(
            f"{source}: line 1: no 'email' column in the header (found: {', '.join(cleaned) or 'nothing'})"
        )
    return Header(
        cleaned, known["email"], known.get("name"), known.get("timezone"), known.get("locale"), attrs
    )


_UNDECODABLE = re.compile("[\udc80-\udcff]")


def _bad_bytes(fields: list[str]) -> bool:
    joined = "".join(fields)
    return not joined.isascii() and _UNDECODABLE.search(joined) is not None


def _readable(fields: list[str]) -> list[str]:
    return [f.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for f in fields]


def parse_row(header: Header, fields: list[str], line: int) -> Row | Reject:
    """Validate one data row (files are decoded with ``surrogateescape``: bad bytes reject the row)."""
    if _bad_bytes(fields):
        return Reject(line, "not UTF-8 text (save the file as UTF-8 CSV)", _readable(fields))
    width = len(header.names)
    if len(fields) > width:
        return Reject(line, f"row has {len(fields)} fields but the header has {width}", fields)
    cells = fields + [""] * (width + 1 - len(fields))  # cells[width] is "" for absent columns
    try:
        email = normalise_email(cells[header.email])
        name = normalise_name(cells[width if header.name is None else header.name])
        raw_locale = cells[width if header.locale is None else header.locale].strip()
        locale = normalise_locale(raw_locale) if raw_locale else None
    except InvalidValue as exc:
        return Reject(line, str(exc), fields)
    attributes: dict[str, Any] = {}
    for index, key in header.attributes:
        value = cells[index].strip()
        if value:
            if len(value) > MAX_ATTRIBUTE:
                return Reject(line, f"column {key!r}: longer than {MAX_ATTRIBUTE} characters", fields)
            attributes[key] = value
    digest = hashlib.sha256(email.encode("utf-8")).hexdigest()
    tz = normalise_timezone(cells[width if header.timezone is None else header.timezone])
    return Row(line, email, digest, name, tz, locale, attributes)


def read_rows(stream: IO[str], source: str) -> tuple[Header, Iterator[tuple[int, list[str]]]]:
    """Read the header and return it with an iterator of ``(line, fields)`` (blank lines skipped)."""
    reader = csv.reader(stream)
    try:
        first = next(reader, None)
    except csv.Error as exc:
        raise ImportFileError(f"{source}: line 1: cannot read the header ({exc})") from None
    if first is None:
        raise ImportFileError(f"{source}: the file is empty (expected a header line with an 'email' column)")
    if _bad_bytes(first):
        raise ImportFileError(f"{source}: line 1: the header is not UTF-8 text (save the file as UTF-8 CSV)")
    header = parse_header(first, source)

    def rows() -> Iterator[tuple[int, list[str]]]:
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ImportFileError(f"{source}: line {reader.line_num}: broken CSV ({exc})") from None
            if fields and (fields[0].strip() or "".join(fields).strip()):
                yield reader.line_num, fields

    return header, rows()


class RejectWriter:
    """Writes refused rows to a CSV: ``line``, ``reason``, then the original columns."""

    def __init__(self, stream: IO[str], header: Header) -> None:
        self._writer = csv.writer(stream)
        self._writer.writerow(["line", "reason", *header.names])

    def write(self, reject: Reject) -> None:
        self._writer.writerow([reject.line, reject.reason, *reject.fields])
