"""Reading subscriber CSV files: header mapping, per-row validation, rejects output.

Columns are matched by header (case-insensitive, ``_`` and ``-`` read as spaces): ``email`` (or
``e-mail``, ``email address``), ``name`` (``full name``, ``display name``; else ``first name`` and
``last name``, ``given name``/``surname`` and the like, joined), ``timezone`` (``tz``), ``locale``
(``language``); every other non-empty header becomes an attribute key (lower-cased). Row numbers are
the file's line numbers (the header is line 1).
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
    "email": "email", "e mail": "email", "email address": "email", "e mail address": "email", "mail": "email",
    "name": "name", "full name": "name", "fullname": "name", "display name": "name", "contact name": "name",
    "first name": "first", "firstname": "first", "given name": "first", "forename": "first", "first": "first",
    "last name": "last", "lastname": "last", "surname": "last", "family name": "last", "last": "last",
    "timezone": "timezone", "time zone": "timezone", "tz": "timezone",
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
    warning: str | None = None  # the row is imported, but something in it was dropped


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
    name_parts: tuple[int, ...] = ()  # first and last name columns, joined when there is no name column


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
        target = ALIASES.get(" ".join(key.replace("_", " ").replace("-", " ").split()))
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
    parts = tuple(known[p] for p in ("first", "last") if p in known)
    if "name" in known:  # a full name wins; first/last name columns are kept as attributes
        attrs += [(known[p], cleaned[known[p]].lower()) for p in ("first", "last") if p in known]
        attrs.sort()
        parts = ()
    return Header(
        cleaned, known["email"], known.get("name"), known.get("timezone"), known.get("locale"), attrs, parts
    )


_UNDECODABLE = re.compile("[\udc80-\udcff]")


def _bad_bytes(fields: list[str]) -> bool:
    joined = "".join(fields)
    return not joined.isascii() and _UNDECODABLE.search(joined) is not None


def _readable(fields: list[str]) -> list[str]:
    return [f.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for f in fields]


def undecodable(encoding: str = "utf-8") -> str:
    """Why a row or header with bytes that are not text in ``encoding`` is refused."""
    if encoding.replace("_", "-").lower() in ("utf-8", "utf8", "utf-8-sig"):
        return "not UTF-8; save the file as UTF-8 or pass --encoding latin-1"
    return f"not valid {encoding} text; save the file as UTF-8 or pass the right --encoding"


def parse_row(header: Header, fields: list[str], line: int, encoding: str = "utf-8") -> Row | Reject:
    """Validate one data row (files are decoded with ``surrogateescape``: bad bytes reject the row)."""
    if _bad_bytes(fields):
        return Reject(line, undecodable(encoding), _readable(fields))
    width = len(header.names)
    if len(fields) > width:
        return Reject(line, f"row has {len(fields)} fields but the header has {width}", fields)
    cells = fields + [""] * (width + 1 - len(fields))  # cells[width] is "" for absent columns
    try:
        email = normalise_email(cells[header.email])
        if header.name is None and header.name_parts:
            name = normalise_name(" ".join(cells[i] for i in header.name_parts))
        else:
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
    raw_tz = cells[width if header.timezone is None else header.timezone].strip()
    tz = normalise_timezone(raw_tz)
    warning = None
    if raw_tz and tz is None:
        warning = f"unknown time zone {raw_tz[:40]!r} ignored; the campaign's time zone applies"
    return Row(line, email, digest, name, tz, locale, attributes, warning)


class _Lines:
    """The file's physical lines for ``csv.reader``, numbered. The lines of the record being read
    are kept, so a record that ran over several lines (an unclosed quote) can be read again."""

    def __init__(self, stream: IO[str]) -> None:
        self._source = iter(stream)
        self._again: list[str] = []  # lines to read again, the next one last
        self.number = 0  # the last line handed out
        self.record: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._again.pop() if self._again else next(self._source)
        self.number += 1
        self.record.append(line)
        return line

    def start_record(self) -> int:
        """Forget the previous record; returns the number of the line the next record starts on."""
        self.record = []
        return self.number + 1

    def read_again(self, lines: list[str]) -> None:
        self._again.extend(reversed(lines))
        self.number -= len(lines)


def _cells_of(line: str) -> list[str]:
    """A broken line split as well as it can be, for the rejects file."""
    try:
        cells = next(csv.reader([line]), [])
    except csv.Error:
        return [line.rstrip("\r\n")]
    return [*cells[:-1], cells[-1].rstrip("\r\n")] if cells else cells


_ADDRESS_LIKE = re.compile(r"[^@\s\"]+@[^@\s\"]+\.[^@\s\"]+")


def _swallowed_rows(record: list[str], header: Header) -> bool:
    """True when a record read over several lines is an unclosed quote rather than a quoted field
    holding a line break (valid CSV): a later line reads by itself as a row with an address in
    the email column."""
    for line in record[1:]:
        try:
            cells = next(csv.reader([line]), [])
        except csv.Error:
            continue
        if len(cells) > max(header.email, 1) and _ADDRESS_LIKE.fullmatch(cells[header.email].strip()):
            return True
    return False


def _broken(lines: _Lines, first: int, error: csv.Error | None) -> Reject:
    """Reject the first line of a broken record and queue the lines it swallowed to be read again."""
    taken = lines.record
    if len(taken) > 1:
        lines.read_again(taken[1:])
        last = first + len(taken) - 1
        reason = (
            f"unclosed quote: the quoted field opened on this line runs on to line {last}; "
            f"the row is rejected and line{'s' if last > first + 1 else ''} "
            f"{first + 1}{f'-{last}' if last > first + 1 else ''} read again as rows"
        )
    elif error is not None and "unexpected end of data" in str(error):
        reason = "unclosed quote: the quoted field opened on this line is never closed"
    else:
        reason = f"broken CSV ({error})"
    return Reject(first, reason, _cells_of(taken[0]) if taken else [])


def read_rows(
    stream: IO[str], source: str, encoding: str = "utf-8"
) -> tuple[Header, Iterator[tuple[int, list[str]] | Reject]]:
    """Read the header and return it with an iterator of ``(line, fields)`` (blank lines skipped).

    A record that is not one well-formed line (an unclosed quote swallowing the next lines, text
    after a closing quote) comes out as a :class:`Reject` for its first line, and the lines it
    swallowed are read again as rows of their own: nothing is silently lost.
    """
    lines = _Lines(stream)
    reader = csv.reader(lines, strict=True)
    try:
        first = next(reader, None)
    except csv.Error as exc:
        raise ImportFileError(f"{source}: line 1: cannot read the header ({exc})") from None
    if first is None:
        raise ImportFileError(f"{source}: the file is empty (expected a header line with an 'email' column)")
    if len(lines.record) > 1:
        raise ImportFileError(f"{source}: line 1: the header has an unclosed quote")
    if _bad_bytes(first):
        raise ImportFileError(f"{source}: line 1: the header is {undecodable(encoding)}")
    header = parse_header(first, source)

    def rows() -> Iterator[tuple[int, list[str]] | Reject]:
        while True:
            line = lines.start_record()
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield _broken(lines, line, exc)
                continue
            if len(lines.record) > 1 and _swallowed_rows(lines.record, header):
                yield _broken(lines, line, None)
            elif fields and (fields[0].strip() or "".join(fields).strip()):
                yield line, fields

    return header, rows()


class RejectWriter:
    """Writes refused rows to a CSV: ``line``, ``reason``, then the original columns."""

    def __init__(self, stream: IO[str], header: Header) -> None:
        self._writer = csv.writer(stream)
        self._writer.writerow(["line", "reason", *header.names])

    def write(self, reject: Reject) -> None:
        self._writer.writerow([reject.line, reject.reason, *reject.fields])
