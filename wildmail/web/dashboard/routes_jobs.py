"""The page of a background job (progress while it runs, the outcome after) and its JSON and rejects.

Jobs are started by the import, create and schedule routes (see :mod:`wildmail.web.jobs`); only the
user who started a job can see it.
"""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse

from wildmail.core.csvsafe import SafeWriter
from wildmail.web.dashboard.auth import require
from wildmail.web.dashboard.pages import DashboardRoute, error_page, render
from wildmail.web.jobs import DONE, FAILED, RUNNING, Job, Jobs

router = APIRouter(route_class=DashboardRoute)
# The .json and .csv routes come before the page: its {job_id} would match "<id>.json" too.


def jobs_of(request: Request) -> Jobs:
    jobs: Jobs = request.app.state.jobs
    return jobs


def job_url(job: Job) -> str:
    return f"/dashboard/jobs/{job.id}"


async def started(request: Request, job: Job) -> Response:
    """The answer to a form that started ``job``: its outcome when it ends within the registry's
    grace time, else its progress page (always the page when the grace time is 0)."""
    grace = jobs_of(request).grace
    if grace > 0:
        await run_in_threadpool(job.ended.wait, grace)
    if grace <= 0 or job.state == RUNNING:
        return RedirectResponse(job_url(job), status_code=303)
    return _outcome(request, job)


def _outcome(request: Request, job: Job) -> Response:
    if job.state == DONE and job.kind != "import":
        return RedirectResponse(job.result_url, status_code=303)
    if job.state == FAILED and job.on_failure is not None:
        page: Response = job.on_failure(request, job)
        return page
    return render(request, "job.html", 400 if job.state == FAILED else 200, job=job)


def _job(request: Request, job_id: str) -> Job | Response:
    user = require(request)
    job = jobs_of(request).get(job_id, user.id)
    if job is None:
        return error_page(
            request,
            404,
            "No such job",
            "This job is unknown: it belongs to someone else, or the server restarted.",
        )
    return job


@router.get("/dashboard/jobs/{job_id}.json")
def job_json(request: Request, job_id: str) -> Response:
    job = _job(request, job_id)
    if isinstance(job, Response):
        return JSONResponse({"state": "unknown"}, status_code=404)
    return JSONResponse(job.snapshot(), headers={"Cache-Control": "no-store"})


@router.get("/dashboard/jobs/{job_id}/rejects.csv")
def job_rejects(request: Request, job_id: str) -> Response:
    """The rejected rows of a finished import (line, reason, the row's columns), formula-safe."""
    job = _job(request, job_id)
    if isinstance(job, Response):
        return job
    out = io.StringIO()
    SafeWriter(out).writerows(csv.reader(io.StringIO(job.rejects_csv, newline="")))
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="rejects.csv"'},
    )


@router.get("/dashboard/jobs/{job_id}")
def job_page(request: Request, job_id: str) -> Response:
    """Progress while running; once done, the result page (or the figures, for an import)."""
    job = _job(request, job_id)
    if isinstance(job, Response):
        return job
    if job.state == RUNNING:
        return render(request, "job.html", job=job)
    return _outcome(request, job)
