"""Marketer pages for subscriber lists: create a list, import a CSV and read the rejects report.

The import runs as a background job (:mod:`wildmail.web.jobs`): its page shows the progress, then
the report (counts, a rejects CSV to download). List and import logic live in the ``subscribers``
package. The upload is copied to a temporary file the job reads as a text stream, never whole
into memory; its size is capped by ``wildmail.web.body_limits``.
"""

from __future__ import annotations

import codecs
import io
import os
import shutil
import tempfile
from typing import IO, Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from subscribers import lifecycle
from subscribers.csv_import import import_csv as import_file
from subscribers.queries import inactive_counts, list_name, lists_with_counts
from wildmail.core.db import write_transaction
from wildmail.web.dashboard.auth import CAN_EDIT, ctx_of, require
from wildmail.web.dashboard.pages import DashboardRoute, done, form_of, render
from wildmail.web.dashboard.routes_jobs import jobs_of, started
from wildmail.web.jobs import Job, UserMistake

router = APIRouter(route_class=DashboardRoute)
READ_SIZE = 64 * 1024
REJECTS_SHOWN = 200  # on the page; the download has them all


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
        inactive = inactive_counts(s)
    return render(
        request, "lists.html", status, user=user, lists=lists, inactive=inactive,
        form=extra.pop("form", {}), **extra,
    )  # fmt: skip


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


class CountingRejects(io.StringIO):
    """The rejects CSV in memory; counts the rows written so far (the csv module writes a row in
    one call; the first call is the header)."""

    def __init__(self, job: Job) -> None:
        super().__init__(newline="")
        self._job = job
        self._calls = 0

    def write(self, s: str, /) -> int:
        self._calls += 1
        self._job.rejects = max(0, self._calls - 1)
        return super().write(s)


def _spool(upload: IO[bytes]) -> IO[bytes]:
    """A copy of the upload the job can read after this request has ended (and closed the upload)."""
    copy = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the job
    upload.seek(0)
    shutil.copyfileobj(upload, copy, READ_SIZE)
    copy.seek(0)
    return copy


@router.post("/dashboard/lists/{slug}/import")
async def import_csv(request: Request, slug: str) -> Response:
    """Start importing an uploaded CSV into the list as a background job; its page shows the
    progress (rows, rows per second, rejects so far), then the report and the rejects download."""
    user = require(request, CAN_EDIT)
    form = await form_of(request)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _lists_page(request, 400, error="Choose a CSV file to import.")
    if not await run_in_threadpool(is_utf8, upload.file):
        return _lists_page(request, 400, error=f"{upload.filename} is not UTF-8 text.")
    ctx = ctx_of(request)
    with ctx.session() as s:
        name = list_name(s, slug)
    if name is None:
        return _lists_page(request, 404, error=f"Import failed: there is no list {slug!r}.")
    status = "pending" if form.get("status") == "pending" else "active"
    raw = await run_in_threadpool(_spool, upload.file)
    filename = upload.filename
    size = os.fstat(raw.fileno()).st_size

    def work(job: Job) -> str:
        rejects = CountingRejects(job)
        source = UploadText(raw, filename)
        job.total_bytes, job.phase = size, "importing"

        def progress(rows: int, _read: int, _total: int | None) -> None:
            job.rows, job.done_bytes = rows, raw.tell()

        try:
            report = import_file(
                ctx.engine,
                source,
                slug,
                status=status,
                rejects=rejects,
                at=ctx.clock.now(),
                progress=progress,
            )
        except (LookupError, ValueError) as exc:
            raise UserMistake(f"Import failed: {exc}") from None
        finally:
            source.close()
        job.rows, job.rejects_csv = report.rows, rejects.getvalue()
        job.rejects = report.rejected
        job.reject_lines = [(x.line, x.reason) for x in report.rejects[:REJECTS_SHOWN]]
        job.figures = {
            "Created": report.created,
            "Updated": report.updated,
            "Joined the list": report.joined,
            "Unchanged": report.unchanged,
            "Suppressed (not added)": report.suppressed,
            "Duplicates": report.duplicates,
            "Rejected": report.rejected,
        }
        return "/dashboard/lists"

    job = jobs_of(request).start("import", f"Import {filename} into {name}", user.id, work)
    return await started(request, job)
