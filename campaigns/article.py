"""Reading an article safely: size, encoding, binary content, front matter.

Every problem raises :class:`ArticleError` naming the file and, where it makes sense,
the line, so the CLI can print one clear message and exit with code 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 2 * 1024 * 1024
"""Articles above this size are refused (a newsletter article is a few kilobytes)."""

FRONT_MATTER_KEYS = {
    "title": str,
    "parts": int,
    "donation_url": str,
    "donation_text": str,
    "mode": str,
    "weekday": str,
    "hour": int,
    "timezone": str,
    "template": str,
    "engine": str,
}


class ArticleError(ValueError):
    """The article cannot be used; ``source`` and ``line`` say where."""

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        self.source = source
        self.line = line
        self.reason = message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Article:
    """Decoded article text (LF line endings) with its front matter removed."""

    source: str
    text: str
    format: str  # "markdown" | "text"
    options: dict[str, Any] = field(default_factory=dict)
    body_first_line: int = 1  # file line number of the first line of ``text``
    option_lines: dict[str, int] = field(default_factory=dict)  # front matter key -> file line

    def error(self, key: str, message: str) -> ArticleError:
        """An :class:`ArticleError` pointing at the front matter line of ``key``."""
        return ArticleError(self.source, message, self.option_lines.get(key))


def read_article_file(path: Path | str, fmt: str = "auto") -> Article:
    """Read and decode an article file; raise :class:`ArticleError` on any problem."""
    path = Path(path)
    source = str(path)
    try:
        if not path.is_file():
            reason = "is a directory, not a file" if path.is_dir() else "file not found"
            raise ArticleError(source, reason)
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ArticleError(source, f"file is {size / 1_048_576:.1f} MB, the limit is 2 MB", 1)
        data = path.read_bytes()
    except OSError as exc:
        raise ArticleError(source, f"cannot read file ({exc.strerror or exc})") from None
    if fmt == "auto" and path.suffix.lower() in (".md", ".markdown", ".mdown"):
        fmt = "markdown"
    elif fmt == "auto" and path.suffix.lower() == ".txt":
        fmt = "text"
    return parse_article_bytes(data, source, fmt)


def parse_article_bytes(data: bytes, source: str, fmt: str = "auto") -> Article:
    """Decode bytes (UTF-8, optional BOM, any line endings) and parse front matter."""
    if len(data) > MAX_BYTES:
        raise ArticleError(source, f"text is {len(data) / 1_048_576:.1f} MB, the limit is 2 MB", 1)
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise ArticleError(source, "binary file (contains NUL bytes), expected UTF-8 text", line)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ArticleError(source, f"not UTF-8 text (invalid byte 0x{data[exc.start]:02x})", line) from None
    return parse_article_text(text, source, fmt)


def _control_line(text: str) -> int | None:
    for number, line in enumerate(text.split("\n"), start=1):
        if any(ord(c) < 32 and c not in "\t\f\v" for c in line):
            return number
    return None


def parse_article_text(text: str, source: str, fmt: str = "auto") -> Article:
    """Normalise line endings, reject empty/binary-looking text, split off front matter."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    bad = _control_line(text)
    if bad is not None:
        raise ArticleError(source, "binary content (control characters), expected text", bad)
    if not text.strip():
        raise ArticleError(source, "article is empty", 1)
    options: dict[str, Any] = {}
    lines: dict[str, int] = {}
    first_line = 1
    if text.startswith("---\n"):
        options, lines, text, first_line = _front_matter(text, source)
        if fmt == "auto":
            fmt = "markdown"
        if not text.strip():
            raise ArticleError(source, "article has front matter but no text", first_line)
    if fmt == "auto":
        fmt = "markdown" if _looks_like_markdown(text) else "text"
    if fmt not in ("markdown", "text"):
        raise ArticleError(source, f"unknown format {fmt!r}, expected markdown or text")
    return Article(
        source=source, text=text, format=fmt, options=options, body_first_line=first_line, option_lines=lines
    )


def _looks_like_markdown(text: str) -> bool:
    return any(line.startswith(("# ", "## ", "### ")) for line in text.split("\n"))


def _front_matter(text: str, source: str) -> tuple[dict[str, Any], dict[str, int], str, int]:
    lines = text.split("\n")
    try:
        end = lines.index("---", 1)
    except ValueError:
        raise ArticleError(source, "front matter starts with '---' but is never closed", 1) from None
    raw = "\n".join(lines[1:end])
    try:
        data = yaml.safe_load(raw) if raw.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ArticleError(source, f"front matter does not parse: {problem}", line) from None
    if not isinstance(data, dict):
        raise ArticleError(source, "front matter must be a mapping of 'key: value' lines", 2)
    key_lines = {ln.split(":", 1)[0].strip(): i + 2 for i, ln in enumerate(lines[1:end]) if ":" in ln}
    options: dict[str, Any] = {}
    for key, value in data.items():
        line = key_lines.get(str(key), 2)
        kind = FRONT_MATTER_KEYS.get(str(key))
        if kind is None:
            known = ", ".join(sorted(FRONT_MATTER_KEYS))
            raise ArticleError(source, f"unknown front matter key {key!r} (known: {known})", line)
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ArticleError(source, f"front matter {key!r} must be a whole number", line)
        if kind is str:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ArticleError(source, f"front matter {key!r} must be text", line)
            value = str(value).strip()
        options[str(key)] = value
    return options, {key: key_lines.get(key, 2) for key in options}, "\n".join(lines[end + 1 :]), end + 2
