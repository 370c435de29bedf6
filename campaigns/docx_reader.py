"""A Word document (.docx) -> an article, through mammoth.

mammoth maps Word's paragraph styles to HTML (Heading 1 -> h1, Title -> h1, lists, links,
bold/italic); :mod:`campaigns.html_markdown` turns it into Markdown, so the document splits
like a Markdown article. Pictures inside the document are kept in :attr:`Article.images` under
``wm-embedded/<n>.<ext>`` addresses, stored and served once the campaign is created.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from typing import Any
from xml.etree import ElementTree

import mammoth

from campaigns.article import Article, ArticleError, parse_article_text
from campaigns.html_markdown import html_to_markdown

STYLE_MAP = "p[style-name='Title'] => h1:fresh\np[style-name='Subtitle'] => p:fresh"
CORE = "{http://purl.org/dc/elements/1.1/}title"
EMBEDDED = "wm-embedded/"  # campaigns.images stores these when the campaign is created
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}


def _core_title(data: bytes) -> str:
    """The title in the document's properties (docProps/core.xml), if any."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            root = ElementTree.fromstring(archive.read("docProps/core.xml"))  # noqa: S314 - stdlib parser, no DTDs fetched
    except (KeyError, zipfile.BadZipFile, ElementTree.ParseError, OSError):
        return ""
    node = root.find(CORE)
    return " ".join((node.text or "").split()) if node is not None else ""


def read_docx(data: bytes, source: str) -> Article:
    """The document as a Markdown :class:`Article` (``reader`` "docx"); a broken file is an error."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ArticleError(
            source,
            "the .docx file is damaged or not a Word document (no readable zip archive; "
            "an old .doc must be saved as .docx)",
        )
    images: dict[str, bytes] = {}

    def _keep_image(image: Any) -> dict[str, str]:  # mammoth passes its own image type
        with image.open() as stream:
            data = stream.read()
        ext = EXTENSIONS.get(str(image.content_type), "bin")
        address = f"{EMBEDDED}{len(images) + 1}.{ext}"
        images[address] = data
        return {"src": address, "alt": image.alt_text or ""}

    try:
        result = mammoth.convert_to_html(
            io.BytesIO(data), style_map=STYLE_MAP, convert_image=mammoth.images.img_element(_keep_image)
        )
    except (KeyError, ValueError, zipfile.BadZipFile, ElementTree.ParseError, OSError) as exc:
        raise ArticleError(
            source, f"the .docx file is damaged and cannot be read ({exc.__class__.__name__})"
        ) from None
    except Exception as exc:  # mammoth's XML reader raises its own errors on a corrupt document part
        raise ArticleError(
            source, f"the .docx file is damaged and cannot be read ({exc.__class__.__name__})"
        ) from None
    text = html_to_markdown(str(result.value))
    if not text.strip():
        raise ArticleError(source, "the .docx document has no text")
    article = parse_article_text(text, source, "markdown")
    return replace(article, reader="docx", title_hint=_core_title(data), line_numbers=False, images=images)
