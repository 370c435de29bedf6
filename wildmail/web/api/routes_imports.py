"""Bulk import as a job: ``POST /api/v1/lists/{slug}/imports`` (a CSV upload) answers 202 with the
job; ``GET /api/v1/imports/{id}`` is its progress and figures, ``.../rejects`` the rejected rows.

The job is the dashboard's (:mod:`wildmail.web.import_jobs`), in the same in-memory registry, owned
by the token (a job is only visible to the token that started it, and lives as long as the server
process: see :mod:`wildmail.web.jobs`).
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool

from subscribers import lifecycle
from wildmail.core.csvsafe import SafeWriter
from wildmail.runtime.api_tokens import Principal
from wildmail.web.api.idempotency import ApiRoute
from wildmail.web.api.problems import ProblemError, documented
from wildmail.web.api.schemas import ImportJobOut, RejectOut, SlugPath
from wildmail.web.api.security import ctx_of, needs
from wildmail.web.import_jobs import is_utf8, spool, start_import
from wildmail.web.jobs import Job, Jobs

router = APIRouter(tags=["imports"], route_class=ApiRoute)
Reader = Annotated[Principal, Depends(needs("subscribers", "read"))]
Writer = Annotated[Principal, Depends(needs("subscribers", "write"))]


def owner_of(principal: Principal) -> int:
    """Jobs are owned by an int: dashboard users by their id, tokens by their id negated."""
    return -principal.token_id


def job_out(job: Job) -> ImportJobOut:
    snap = job.snapshot()
    return ImportJobOut(
        id=job.id, state=job.state, phase=job.phase, rows=job.rows, rejects=job.rejects,  # type: ignore[arg-type]
        percent=snap["percent"], message=job.message, figures=dict(job.figures),
        first_rejects=[RejectOut(line=line, reason=reason) for line, reason in job.reject_lines],
    )  # fmt: skip


def _jobs(request: Request) -> Jobs:
    jobs: Jobs = request.app.state.jobs
    return jobs


@router.post(
    "/api/v1/lists/{slug}/imports",
    status_code=202,
    summary="Import a CSV into a list (a background job)",
    responses=documented(413),
)
async def start(
    request: Request,
    principal: Writer,
    slug: SlugPath,
    file: Annotated[UploadFile, File(description="CSV with an email column; see the README's import.")],
    response: Response,
    status: Annotated[Literal["active", "pending"], Form()] = "active",
) -> ImportJobOut:
    """Columns go by header (``email``, a name, ``timezone``, ``locale``, anything else an
    attribute). ``status=active`` asserts you hold the people's consent. Poll the job's URL
    (``Location``) until ``state`` is ``done`` or ``failed``."""
    if not await run_in_threadpool(is_utf8, file.file):
        raise ProblemError(422, f"{file.filename or 'the file'} is not UTF-8 text", kind="invalid-file")
    ctx = ctx_of(request)
    with ctx.session() as s:
        lst = lifecycle.get_list(s, slug)
        if lst is None:
            raise ProblemError(404, f"no list {slug!r}", kind="not-found")
        name = lst.name
    raw = await run_in_threadpool(spool, file.file)
    filename = file.filename or "upload.csv"
    job = start_import(
        _jobs(request), ctx, owner=owner_of(principal), slug=slug, title=f"Import {filename} into {name}",
        raw=raw, filename=filename, status=status, result_url=f"/api/v1/lists/{slug}",
    )  # fmt: skip
    response.headers["Location"] = f"/api/v1/imports/{job.id}"
    return job_out(job)


def _job(request: Request, principal: Principal, job_id: str) -> Job:
    job = _jobs(request).get(job_id, owner_of(principal))
    if job is None or job.kind != "import":
        raise ProblemError(
            404, "no such import: it belongs to another token, or the server restarted", kind="not-found"
        )
    return job


@router.get("/api/v1/imports/{job_id}", summary="An import's progress and figures")
def get_import(request: Request, principal: Reader, job_id: str) -> ImportJobOut:
    return job_out(_job(request, principal, job_id))


@router.get(
    "/api/v1/imports/{job_id}/rejects",
    summary="The rejected rows (line, reason, the row's columns) as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV"}},
)
def get_rejects(request: Request, principal: Reader, job_id: str) -> Response:
    job = _job(request, principal, job_id)
    out = io.StringIO()
    SafeWriter(out).writerows(csv.reader(io.StringIO(job.rejects_csv, newline="")))
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")
