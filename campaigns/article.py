"""Reading an article safely: size, encoding, binary content, front matter, the reader by format.

Plain text and Markdown are read here; an HTML page (:mod:`campaigns.html_reader`) and a Word
document (:mod:`campaigns.docx_reader`) become Markdown first, so every format splits the same way.
Every problem raises :class:`ArticleError` naming the file and, where it makes sense,
the line, so the CLI can print one clear message and exit with code 2.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath
from typing import Any

import yaml

MAX_BYTES = 2 * 1024 * 1024
"""Articles above this size are refused (a newsletter article is a few kilobytes)."""

FRONT_MATTER_KEYS: dict[str, type] = {
    "title": str,
    "author": str,
    "date": str,
    "tags": list,
    "image": str,
    "image_alt": str,
    "locale": str,
    "logo_url": str,
    "brand_colour": str,
    "organisation": str,
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
"""Front matter keys wildmail uses, with their type; any other key is kept as campaign metadata."""

LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")

HTML_SUFFIXES = (".html", ".htm", ".xhtml")
MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown")
READERS = {
    "text": "plain text",
    "markdown": "Markdown (markdown-it-py)",
    "html": "HTML (trafilatura)",
    "docx": "Word .docx (mammoth)",
}
"""Reader names shown to the user, by input format."""


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
    format: str  # "markdown" | "text": how ``text`` is split and rendered
    options: dict[str, Any] = field(default_factory=dict)
    body_first_line: int = 1  # file line number of the first line of ``text``
    option_lines: dict[str, int] = field(default_factory=dict)  # front matter key -> file line
    reader: str = "text"  # a key of READERS: what the file was read as
    metadata: dict[str, Any] = field(default_factory=dict)  # front matter keys wildmail does not use
    notices: tuple[str, ...] = ()  # things the user should know, not errors
    title_hint: str = ""  # a title the reader found outside the text (HTML <title>, .docx title)
    line_numbers: bool = True  # False when ``text`` was made from HTML or .docx (not the file's lines)
    base_dir: str = ""  # the folder of the article file: where its local pictures are ("" for uploads)
    images: dict[str, bytes] = field(default_factory=dict, repr=False)  # pictures inside a .docx

    @property
    def reader_name(self) -> str:
        """What read the file, for messages ("HTML (trafilatura)")."""
        return READERS.get(self.reader, self.reader)

    def error(self, key: str, message: str) -> ArticleError:
        """An :class:`ArticleError` pointing at the front matter line of ``key``."""
        return ArticleError(self.source, message, self.option_lines.get(key))

    def error_at(self, line: int, message: str) -> ArticleError:
        """An :class:`ArticleError` at text line ``line`` (no line for converted HTML or .docx)."""
        return ArticleError(self.source, message, line if self.line_numbers else None)


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
    return replace(read_article_bytes(data, source, fmt), base_dir=str(path.parent))


def format_of(name: str, fmt: str = "auto") -> str:
    """The input format of a file called ``name``: html, docx, markdown, text or auto (decide by content)."""
    if fmt != "auto":
        return fmt
    suffix = PurePath(name).suffix.lower()
    if suffix in HTML_SUFFIXES:
        return "html"
    if suffix == ".docx":
        return "docx"
    if suffix in MARKDOWN_SUFFIXES:
        return "markdown"
    if suffix == ".txt":
        return "text"
    return "auto"


def read_article_bytes(data: bytes, source: str, fmt: str = "auto") -> Article:
    """An article from a file's name and bytes (a CLI path or a dashboard upload), any format.

    The format comes from ``fmt`` or the name's suffix; ``.docx`` and HTML go through their
    readers, anything else is decoded as UTF-8 text.
    """
    fmt = format_of(source, fmt)
    if len(data) > MAX_BYTES:
        raise ArticleError(source, f"file is {len(data) / 1_048_576:.1f} MB, the limit is 2 MB", 1)
    if fmt == "docx":
        from campaigns.docx_reader import read_docx

        return read_docx(data, source)
    if fmt == "html":
        from campaigns.html_reader import read_html

        return read_html(data, source)
    if fmt == "auto" and data.lstrip()[:1] == b"<" and _looks_like_html(data):
        from campaigns.html_reader import read_html

        return read_html(data, source)
    return parse_article_bytes(data, source, fmt)


def _looks_like_html(data: bytes) -> bool:
    head = data.lstrip()[:512].lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<body" in head


def decode_text(data: bytes, source: str) -> str:
    """UTF-8 text of ``data`` (optional BOM); NUL bytes and invalid UTF-8 are errors with a line."""
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise ArticleError(source, "binary file (contains NUL bytes), expected UTF-8 text", line)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ArticleError(source, f"not UTF-8 text (invalid byte 0x{data[exc.start]:02x})", line) from None


def parse_article_bytes(data: bytes, source: str, fmt: str = "auto") -> Article:
    """Decode bytes (UTF-8, optional BOM, any line endings) and parse front matter."""
    if len(data) > MAX_BYTES:
        raise ArticleError(source, f"text is {len(data) / 1_048_576:.1f} MB, the limit is 2 MB", 1)
    return parse_article_text(decode_text(data, source), source, fmt)


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
    front = FrontMatter()
    first_line = 1
    if text.startswith("---\n"):
        front, text, first_line = _front_matter(text, source)
        if fmt == "auto":
            fmt = "markdown"
        if not text.strip():
            raise ArticleError(source, "article has front matter but no text", first_line)
    if fmt == "auto":
        fmt = "markdown" if _looks_like_markdown(text) else "text"
    if fmt not in ("markdown", "text"):
        raise ArticleError(source, f"unknown format {fmt!r}, expected markdown, text, html or docx")
    notices: tuple[str, ...] = ()
    if front.metadata:
        keys = ", ".join(front.metadata)
        notices = (
            f"front matter kept as campaign metadata (for templates; wildmail does not use it): {keys}",
        )
    return Article(
        source=source,
        text=text,
        format=fmt,
        options=front.options,
        body_first_line=first_line,
        option_lines=front.lines,
        reader=fmt,
        metadata=front.metadata,
        notices=notices,
    )


def _looks_like_markdown(text: str) -> bool:
    return any(line.startswith(("# ", "## ", "### ")) for line in text.split("\n"))


@dataclass
class FrontMatter:
    options: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


def _plain(value: Any) -> Any:
    """A YAML value as JSON-safe data (dates become ISO text)."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _known_value(source: str, key: str, value: Any, line: int) -> Any:
    """``value`` checked against the type of known key ``key``; a wrong one is an error on ``line``."""
    kind = FRONT_MATTER_KEYS[key]
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ArticleError(source, f"front matter {key!r} must be a whole number", line)
        return value
    if kind is list:
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in items):
            raise ArticleError(source, f"front matter {key!r} must be a list of words", line)
        return [str(v).strip() for v in items]
    if isinstance(value, (dt.date, dt.datetime)) and key == "date":
        return value.isoformat()
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ArticleError(source, f"front matter {key!r} must be text", line)
    text = str(value).strip()
    if key == "locale" and not LOCALE.match(text):
        raise ArticleError(
            source, f"front matter 'locale' must be a language tag like en or fr-CA, got {text!r}", line
        )
    if key == "brand_colour" and not COLOUR.match(text):
        raise ArticleError(
            source, f"front matter 'brand_colour' must be a hex colour like #1d6b45, got {text!r}", line
        )
    return text


def _front_matter(text: str, source: str) -> tuple[FrontMatter, str, int]:
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
    front = FrontMatter()
    for raw_key, value in data.items():
        key = str(raw_key)
        line = key_lines.get(key, 2)
        if key in FRONT_MATTER_KEYS:
            front.options[key] = _known_value(source, key, value, line)
            front.lines[key] = line
        else:
            front.metadata[key] = _plain(value)
    return front, "\n".join(lines[end + 1 :]), end + 2
