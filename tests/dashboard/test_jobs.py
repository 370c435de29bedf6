"""Background jobs (``wildmail.web.jobs``): the registry, the progress page and JSON while a job runs,
its outcome after, an import and a campaign creation that take longer than the grace time."""

from __future__ import annotations

import csv
import io
import re
import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.models import Campaign
from tests.dashboard.conftest import csrf_of, log_in, post_form
from wildmail.runtime.users import User
from wildmail.web.jobs import DONE, FAILED, RUNNING, Job, Jobs, UserMistake


def test_a_job_runs_on_a_thread_and_reports_its_end() -> None:
    jobs, release = Jobs(), threading.Event()

    def work(job: Job) -> str:
        job.rows, job.phase = 10, "halfway"
        release.wait(10)
        job.rows = 20
        return "/done"

    job = jobs.start("import", "Import", owner=1, work=work)
    assert job.state == RUNNING and not job.ended.wait(0.05)
    assert jobs.get(job.id, owner=2) is None  # only for the user who started it
    release.set()
    assert jobs.wait(job.id) is job
    assert (job.state, job.result_url, job.rows, job.snapshot()["percent"]) == (DONE, "/done", 20, 100)


def test_a_failing_job_says_why_and_the_registry_keeps_the_newest() -> None:
    jobs = Jobs(keep=2)

    def mistake(job: Job) -> str:
        raise UserMistake("line 3: no address")

    def crash(job: Job) -> str:
        raise OSError("disk full")

    first = jobs.wait(jobs.start("import", "A", 1, mistake).id)
    assert (first.state, first.message) == (FAILED, "line 3: no address")
    second = jobs.wait(jobs.start("import", "B", 1, crash).id)
    assert second.state == FAILED and "disk full" in second.message
    for _ in range(3):
        jobs.wait(jobs.start("create", "C", 1, lambda job: "/x").id)
    assert jobs.get(first.id, 1) is None  # dropped: only the newest finished jobs are kept


def _user_id(engine, email: str) -> int:
    with Session(engine) as s:
        return s.scalars(select(User.id).where(User.email == email)).one()


def test_the_job_page_shows_progress_then_the_outcome(client, users, engine) -> None:
    log_in(client, users["marketer"])
    jobs: Jobs = client.app.api.state.jobs
    release = threading.Event()

    def work(job: Job) -> str:
        job.total_bytes, job.done_bytes, job.rows, job.rejects = 1000, 250, 1234, 5
        job.phase = "importing"
        release.wait(10)
        job.figures = {"Created": 1229, "Rejected": 5}
        return "/dashboard/lists"

    job = jobs.start("import", "Import big.csv into Friends", _user_id(engine, users["marketer"]), work)
    while job.phase != "importing":
        job.ended.wait(0.01)
    page = client.get(f"/dashboard/jobs/{job.id}")
    assert page.status_code == 200 and 'data-state="running"' in page.text
    assert '<script src="/static/jobs.js" defer></script>' in page.text  # the live poll (same origin)
    assert 'value="25"' in page.text and 'data-field="rows">1234<' in page.text
    state = client.get(f"/dashboard/jobs/{job.id}.json").json()
    assert (state["state"], state["rows"], state["rejects"], state["percent"]) == ("running", 1234, 5, 25)
    release.set()
    jobs.wait(job.id)
    assert client.get(f"/dashboard/jobs/{job.id}.json").json()["state"] == "done"
    done = client.get(f"/dashboard/jobs/{job.id}")
    assert 'id="created">1,229<' in done.text and "jobs.js" not in done.text
    post_form(client, "/dashboard", "/logout")
    log_in(client, users["admin"])  # someone else's job is not found
    assert client.get(f"/dashboard/jobs/{job.id}").status_code == 404
    assert client.get(f"/dashboard/jobs/{job.id}.json").status_code == 404


@pytest.fixture
def slow(client):
    """Every job is answered by its progress page (as a long one is), never at once."""
    client.app.api.state.jobs.grace = 0.0
    return client.app.api.state.jobs


def test_an_import_past_the_grace_time_goes_to_its_job_page(client, users, slow) -> None:
    log_in(client, users["marketer"])
    post_form(client, "/dashboard/lists", "/dashboard/lists", {"slug": "friends", "name": "Friends"})
    body = "email,name\nana@example.org,Ana\n=cmd|' /C calc'!A0,Eve\ncy@example.org,Cy\n"
    token = csrf_of(client.get("/dashboard/lists").text)
    r = client.post(
        "/dashboard/lists/friends/import",
        data={"csrf": token, "status": "active"},
        files={"file": ("people.csv", body.encode(), "text/csv")},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/dashboard/jobs/")
    slow.wait(r.headers["location"].rsplit("/", 1)[1])
    page = client.get(r.headers["location"]).text
    assert 'id="created">2<' in page and 'id="rejected">1<' in page and "Finished in" in page
    rejects = client.get(r.headers["location"] + "/rejects.csv")
    assert rejects.headers["content-disposition"] == 'attachment; filename="rejects.csv"'
    rows = list(csv.reader(io.StringIO(rejects.text)))
    assert rows[0][:2] == ["line", "reason"] and rows[1][0] == "3"
    assert rows[1][2].startswith("'=")  # formula-safe: a spreadsheet shows it, never runs it


def test_a_slow_create_keeps_the_form_when_the_article_is_refused(client, users, slow, engine) -> None:
    log_in(client, users["marketer"])
    token = csrf_of(client.get("/dashboard/campaigns/new").text)
    form = {
        "csrf": token,
        "name": "Heading only",
        "text": "# A heading\n",
        "donation_url": "https://give.example.org/",
    }
    r = client.post("/dashboard/campaigns/new", data=form, follow_redirects=False)
    assert r.status_code == 303
    slow.wait(r.headers["location"].rsplit("/", 1)[1])
    page = client.get(r.headers["location"])
    assert page.status_code == 400 and 'class="error box"' in page.text
    assert 'value="Heading only"' in page.text and 'value="https://give.example.org/"' in page.text
    form["text"] = "Leopards live in forests.\n\nThey need room."
    r = client.post("/dashboard/campaigns/new", data=form, follow_redirects=False)
    slow.wait(r.headers["location"].rsplit("/", 1)[1])
    done = client.get(r.headers["location"], follow_redirects=False)
    assert (
        done.status_code == 303
        and done.headers["location"] == "/dashboard/campaigns/heading-only?done=created"
    )
    with Session(engine) as s:
        assert s.scalars(select(Campaign.slug)).all() == ["heading-only"]
    assert re.search(r"Campaign created", client.get(done.headers["location"]).text)
