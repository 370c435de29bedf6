"""An article's pictures: local files stored under content-addressed names, sizes learnt once.

When a campaign is created, every image of its emails (and the front matter ``image``) is
settled once:

- a local file next to the article (``![Otter](pictures/otter.jpg)``) or a picture inside a
  ``.docx`` is copied into the media folder (the ``media_dir`` setting) as ``<sha256>.<ext>`` and
  its address becomes ``<base_url>/media/<sha256>.<ext>``, which ``wildmail serve`` answers; the
  name is the content's hash, so nothing a web user sends can name another file;
- a remote ``http(s)`` picture is fetched once, only to learn its size, and only from a public
  host (or a network the ``fetch_allowed_networks`` setting opens).

The sizes are stored with the campaign, so compiling (and recompiling after an edit) never
fetches anything; the renderer gives every image ``width``/``height`` scaled to the column.
Pillow reads the sizes (it reads only the file's header for that).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import httpx
from PIL import Image, UnidentifiedImageError

from campaigns.article import Article, ArticleError
from wildmail.core.netguard import BlockedAddress, check_public_url

MAX_IMAGE_BYTES = 10 * 1024 * 1024
FETCH_TIMEOUT = 10.0
MAX_REDIRECTS = 5
TYPES = {"PNG": ("png", "image/png"), "JPEG": ("jpg", "image/jpeg"), "GIF": ("gif", "image/gif"),
         "WEBP": ("webp", "image/webp")}  # fmt: skip
MEDIA_NAME = re.compile(r"^[0-9a-f]{64}\.(?:png|jpg|gif|webp)$")
CONTENT_TYPES = {ext: mime for ext, mime in TYPES.values()}
MARKDOWN_IMAGE = re.compile(r"(!\[[^\]]*\]\()(\s*<?)([^)\s>]*)(>?)")

Size = tuple[int, int]
Fetch = Callable[[str], bytes]


class ImageProblem(ValueError):
    """A picture cannot be read or fetched."""


def picture(data: bytes) -> tuple[str, Size]:
    """(extension, (width, height)) of an image's bytes; :class:`ImageProblem` when it is not one."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = TYPES.get(str(image.format))
            if kind is None:
                raise ImageProblem(f"{image.format} pictures are not supported (use PNG, JPEG, GIF or WebP)")
            return kind[0], (int(image.width), int(image.height))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        if isinstance(exc, ImageProblem):
            raise
        raise ImageProblem("not a picture Pillow can read") from None


def fetch(url: str, allowed: tuple[str, ...] = ()) -> bytes:
    """The bytes of a remote picture (at most 10 MB, 10 s, 5 redirects); :class:`ImageProblem` on
    any failure, also when a hop names a private host outside ``allowed`` networks
    (:mod:`wildmail.core.netguard`)."""
    for _hop in range(MAX_REDIRECTS + 1):
        try:
            check_public_url(url, allowed)
        except BlockedAddress as exc:
            raise ImageProblem(f"not fetched: {exc}; fetch_allowed_networks can allow it") from None
        try:
            with httpx.stream("GET", url, timeout=FETCH_TIMEOUT, follow_redirects=False) as response:
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                if response.status_code != 200:
                    raise ImageProblem(f"HTTP {response.status_code}")
                data = b""
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > MAX_IMAGE_BYTES:
                        raise ImageProblem("larger than 10 MB")
                return data
        except httpx.HTTPError as exc:
            raise ImageProblem(exc.__class__.__name__) from None
    raise ImageProblem(f"more than {MAX_REDIRECTS} redirects")


class MediaStore:
    """The media folder: pictures under the hash of their content."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def put(self, data: bytes) -> tuple[str, Size]:
        """Store ``data`` (once); returns its name and size."""
        ext, size = picture(data)
        name = f"{hashlib.sha256(data).hexdigest()}.{ext}"
        target = self.root / name
        if not target.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".part")
            partial.write_bytes(data)
            partial.replace(target)
        return name, size

    def path(self, name: str) -> Path | None:
        """The file of a stored picture, or None when ``name`` is not a media name or is absent."""
        if not MEDIA_NAME.match(name):
            return None
        path = self.root / name
        return path if path.is_file() else None


def media_url(base_url: str, name: str) -> str:
    """The public address of a stored picture."""
    return f"{base_url}/media/{name}"


@dataclass
class Settled:
    """Emails' paragraphs with local pictures replaced by their public address, and every size."""

    paragraphs: list[list[str]]
    sizes: dict[str, list[int]] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)  # other addresses settled (hero), old -> new


class _Settler:
    def __init__(self, article: Article, store: MediaStore, base_url: str, get: Fetch) -> None:
        self.article = article
        self.store = store
        self.base_url = base_url
        self.get = get
        self.done: dict[str, str] = {}  # address in the article -> address in the emails
        self.sizes: dict[str, list[int]] = {}
        self.notices: list[str] = []

    def settle(self, src: str) -> str:
        if src in self.done:
            return self.done[src]
        if src.lower().startswith(("http://", "https://")):
            try:
                self.sizes[src] = list(picture(self.get(src))[1])
            except ImageProblem as exc:
                self.notices.append(f"image {src}: size unknown ({exc}); it is shown at the column's width")
            self.done[src] = src
            return src
        name, size = self.store.put(self._local_bytes(src))
        url = media_url(self.base_url, name)
        self.sizes[url] = list(size)
        self.done[src] = url
        return url

    def _local_bytes(self, src: str) -> bytes:
        source = self.article.source
        if src in self.article.images:
            return self.article.images[src]
        if src.startswith("data:") or ":" in src.split("/")[0]:
            raise ArticleError(
                source, f"image {src[:60]!r}: use an http(s) address or a file next to the article"
            )
        if not self.article.base_dir:
            raise ArticleError(
                source, f"image {src!r} is a local file; an uploaded article needs http(s) images"
            )
        folder = Path(self.article.base_dir).resolve()
        path = (folder / src).resolve()
        if not path.is_relative_to(folder):
            raise ArticleError(source, f"image {src!r} is outside the article's folder")
        try:
            if path.stat().st_size > MAX_IMAGE_BYTES:
                raise ArticleError(source, f"image {src!r} is larger than 10 MB")
            data = path.read_bytes()
            picture(data)
        except FileNotFoundError:
            raise ArticleError(source, f"image {src!r} not found (looked in {folder})") from None
        except OSError as exc:
            raise ArticleError(source, f"image {src!r} cannot be read ({exc.strerror or exc})") from None
        except ImageProblem as exc:
            raise ArticleError(source, f"image {src!r}: {exc}") from None
        return data


def settle_images(
    article: Article,
    paragraphs: list[list[str]],
    store: MediaStore,
    base_url: str,
    extra: tuple[str, ...] = (),
    get: Fetch = fetch,
) -> Settled:
    """Store the local pictures of ``paragraphs`` (one list per email) and learn every size once.

    ``extra`` are further addresses to settle the same way (the front matter ``image``).
    """
    settler = _Settler(article, store, base_url, get)

    def replace(match: re.Match[str]) -> str:
        src = match.group(3)
        return (
            match.group(1) + match.group(2) + settler.settle(src) + match.group(4) if src else match.group(0)
        )

    out = [
        [MARKDOWN_IMAGE.sub(replace, p) if article.format == "markdown" else p for p in email]
        for email in paragraphs
    ]
    settled_extra = {src: settler.settle(src) for src in extra if src}
    return Settled(out, settler.sizes, settler.notices, settled_extra)
