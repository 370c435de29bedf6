"""CSV for spreadsheets: every export writes through here, so no cell can run as a formula.

Spreadsheet programs evaluate a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and some do
after a leading tab or carriage return), so text a user chose (a name, an attribute, an address,
a subject) could run ``=HYPERLINK(...)`` or a DDE command when the export is opened. Following
the OWASP CSV injection guidance, such text cells get a leading single quote and every field is
quoted. Numbers pass through unchanged, and so does text that is just a plain number (``-5``,
``+4930123``): a spreadsheet reads that as a number, not a formula.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import IO, Any

# The OWASP list, plus the full-width forms some spreadsheet locales also accept as formula starts.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")


def safe_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


class SafeWriter:
    """A :func:`csv.writer` that quotes every field and neutralises formula cells."""

    def __init__(self, out: IO[str], lineterminator: str = "\r\n") -> None:
        self._writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator=lineterminator)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
