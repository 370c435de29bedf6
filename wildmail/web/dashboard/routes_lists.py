"""Marketer pages for subscriber lists: create a list, import a CSV and read the rejects report.

The import is synchronous: the answer is the finished report (counts, rejected rows and a
rejects CSV to download). List and import logic live in the ``subscribers`` package.
"""

from __future__ import annotations

import io
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import func, select
from starlette.datastructures import UploadFile

from subscribers.models import ListMembership, SubscriberList
from wildmail.db import write_transaction
from wildmail.web.dashboard.auth import CAN_EDIT, ctx_of, require
from wildmail.web.dashboard.pages import DashboardRoute, done, error_page, form_of, render
from wildmail.web.dashboard.routes_campaigns import optional

router = APIRouter(route_class=DashboardRoute)
MAX_CSV_BYTES = 50_000_000


def _lists_page(request: Request, status: int = 200, **extra: Any) -> Response:
    user = require(request, CAN_EDIT)
    with ctx_of(request).session() as s:
        counts = dict(
            s.execute(select(ListMembership.list_id, func.count()).group_by(ListMembership.list_id))
            .tuples()
            .all()
        )
        lists = [
            (lst, counts.get(lst.id, 0))
            for lst in s.scalars(select(SubscriberList).order_by(SubscriberList.name))
        ]
    return render(request, "lists.html", status, user=user, lists=lists, form=extra.pop("form", {}), **extra)


@router.get("/dashboard/lists")
def lists_page(request: Request) -> Response:
    return _lists_page(request)


@router.post("/dashboard/lists")
async def create_list(request: Request) -> Response:
    """Create a list (slug rules are the subscribers package's)."""
    require(request, CAN_EDIT)
    form = await form_of(request)
    lifecycle = optional("subscribers.lifecycle")
    if lifecycle is None:
        return error_page(request, 503, "Not available yet", "Creating lists is not available yet.")
    ctx = ctx_of(request)
    slug, name = str(form.get("slug") or "").strip(), str(form.get("name") or "").strip()
    try:
        with write_transaction(ctx.engine) as s:
            lifecycle.create_list(
                s, slug, name or None, double_opt_in=bool(form.get("double_opt_in")), at=ctx.clock.now()
            )
    except ValueError as exc:
        return _lists_page(request, 400, error=f"List not created: {exc}", form={"slug": slug, "name": name})
    return done("/dashboard/lists", "list")


@router.post("/dashboard/lists/{slug}/import")
async def import_csv(request: Request, slug: str) -> Response:
    """Import an uploaded CSV into the list and show the report with its rejects."""
    user = require(request, CAN_EDIT)
    form = await form_of(request)
    importer = optional("subscribers.csv_import")
    if importer is None:
        return error_page(request, 503, "Not available yet", "Importing subscribers is not available yet.")
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _lists_page(request, 400, error="Choose a CSV file to import.")
    data = await upload.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        return _lists_page(
            request, 400, error=f"{upload.filename} is larger than 50 MB: use 'wildmail subscribers import'."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _lists_page(request, 400, error=f"{upload.filename} is not UTF-8 text.")
    ctx = ctx_of(request)
    status = "pending" if form.get("status") == "pending" else "active"
    rejects = io.StringIO()
    source = io.StringIO(text, newline="")
    source.name = upload.filename  # type: ignore[misc]
    try:
        report = importer.import_csv(
            ctx.engine, source, slug, status=status, rejects=rejects, at=ctx.clock.now()
        )
    except (LookupError, ValueError) as exc:
        return _lists_page(request, 400, error=f"Import failed: {exc}")
    with ctx.session() as s:
        list_name = s.scalar(select(SubscriberList.name).where(SubscriberList.slug == slug)) or slug
    return render(
        request,
        "import_report.html",
        user=user,
        report=report,
        list_name=list_name,
        filename=upload.filename,
        rejects_csv=rejects.getvalue(),
    )
