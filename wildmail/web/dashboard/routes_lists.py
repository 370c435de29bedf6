"""Marketer pages for subscriber lists: create a list, import a CSV and read the rejects report.

The import runs as a background job (:mod:`wildmail.web.import_jobs`, shared with the REST API): its
page shows the progress, then the report (counts, a rejects CSV to download). List and import logic
live in the ``subscribers`` package. The upload is copied to a temporary file the job reads as a
text stream, never whole into memory; its size is capped by ``wildmail.web.body_limits``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from subscribers import lifecycle
from subscribers.queries import inactive_counts, list_name, lists_with_counts
from wildmail.core.db import write_transaction
from wildmail.web.dashboard.auth import CAN_EDIT, ctx_of, require
from wildmail.web.dashboard.pages import DashboardRoute, done, form_of, render
from wildmail.web.dashboard.routes_jobs import jobs_of, started
from wildmail.web.import_jobs import is_utf8, spool, start_import

router = APIRouter(route_class=DashboardRoute)


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
    raw = await run_in_threadpool(spool, upload.file)
    job = start_import(
        jobs_of(request), ctx, owner=user.id, slug=slug, title=f"Import {upload.filename} into {name}",
        raw=raw, filename=upload.filename, status=status, result_url="/dashboard/lists",
    )  # fmt: skip
    return await started(request, job)
