"""Marketer pages for subscriber lists: create a list, import a CSV and read the rejects report.

The import is synchronous: the answer is the finished report (counts, rejected rows and a
rejects CSV to download). List and import logic live in the ``subscribers`` package. The upload
is read from the form parser's spooled temporary file (on disk past 1 MB) as a text stream,
never whole into memory; its size is capped by ``wildmail.web.body_limits``.
"""

from __future__ import annotations

import codecs
import io
from typing import IO, Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from subscribers import lifecycle
from subscribers.csv_import import import_csv as import_file
from subscribers.queries import list_name, lists_with_counts
from wildmail.core.db import write_transaction
from wildmail.web.dashboard.auth import CAN_EDIT, ctx_of, require
from wildmail.web.dashboard.pages import DashboardRoute, done, form_of, render

router = APIRouter(route_class=DashboardRoute)
READ_SIZE = 64 * 1024


class UploadText(io.TextIOWrapper):
    """An uploaded file read as UTF-8 text, named in messages by the browser's file name."""

    def __init__(self, raw: IO[bytes], filename: str) -> None:
        super().__init__(raw, encoding="utf-8-sig", newline="")
        self.filename = filename

    @property
    def name(self) -> str:
        return self.filename


def is_utf8(raw: IO[bytes]) -> bool:
    """True when the whole file decodes as UTF-8 (read in small blocks; rewound afterwards)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    raw.seek(0)
    try:
        while block := raw.read(READ_SIZE):
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    finally:
        raw.seek(0)
    return True


def _lists_page(request: Request, status: int = 200, **extra: Any) -> Response:
    user = require(request, CAN_EDIT)
    with ctx_of(request).session() as s:
        lists = lists_with_counts(s, order_by="name")
    return render(request, "lists.html", status, user=user, lists=lists, form=extra.pop("form", {}), **extra)


@router.get("/dashboard/lists")
def lists_page(request: Request) -> Response:
    return _lists_page(request)


@router.post("/dashboard/lists")
async def create_list(request: Request) -> Response:
    """Create a list (slug rules are the subscribers package's)."""
    require(request, CAN_EDIT)
    form = await form_of(request)
    ctx = ctx_of(request)
    slug, name = str(form.get("slug") or "").strip(), str(form.get("name") or "").strip()
    description = str(form.get("description") or "")[:4000]
    try:
        with write_transaction(ctx.engine) as s:
            lifecycle.create_list(
                s, slug, name or None, double_opt_in=bool(form.get("double_opt_in")), at=ctx.clock.now(),
                description=description,
            )  # fmt: skip
    except ValueError as exc:
        kept = {"slug": slug, "name": name, "description": description}
        return _lists_page(request, 400, error=f"List not created: {exc}", form=kept)
    return done("/dashboard/lists", "list")


@router.post("/dashboard/lists/{slug}/import")
async def import_csv(request: Request, slug: str) -> Response:
    """Import an uploaded CSV into the list and show the report with its rejects."""
    user = require(request, CAN_EDIT)
    form = await form_of(request)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _lists_page(request, 400, error="Choose a CSV file to import.")
    if not await run_in_threadpool(is_utf8, upload.file):
        return _lists_page(request, 400, error=f"{upload.filename} is not UTF-8 text.")
    ctx = ctx_of(request)
    status = "pending" if form.get("status") == "pending" else "active"
    rejects = io.StringIO()
    source = UploadText(upload.file, upload.filename)
    try:
        report = await run_in_threadpool(
            lambda: import_file(ctx.engine, source, slug, status=status, rejects=rejects, at=ctx.clock.now())
        )
    except (LookupError, ValueError) as exc:
        return _lists_page(request, 400, error=f"Import failed: {exc}")
    finally:
        source.detach()  # the form closes the upload itself
    with ctx.session() as s:
        name = list_name(s, slug) or slug
    return render(
        request,
        "import_report.html",
        user=user,
        report=report,
        list_name=name,
        filename=upload.filename,
        rejects_csv=rejects.getvalue(),
    )
