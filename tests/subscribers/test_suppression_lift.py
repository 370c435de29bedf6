"""Lifting a bounce's suppression (CLI and dashboard, with a note); a re-import never lifts one."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from subscribers import lifecycle
from subscribers.csv_import import import_csv
from subscribers.models import ConsentEvent, Subscriber
from tests.dashboard.conftest import PASSWORD, log_in, post_form
from tests.subscribers.helpers import make_list
from wildmail.cli import app
from wildmail.core.db import write_transaction
from wildmail.runtime.users import add_user

pytestmark = pytest.mark.postgres
runner = CliRunner()


def person(s: Session, email: str) -> Subscriber:
    found = lifecycle.find_subscriber(s, email)
    assert found is not None
    return found


@pytest.fixture
def people(engine, clock):
    """ada bounced (a relay incident), bob unsubscribed, cleo active; all on the news list."""
    with Session(engine, expire_on_commit=False) as s, s.begin():
        news = make_list(s, clock, double=False)
        for email in ("ada@example.org", "bob@example.org", "cleo@example.org"):
            sub = Subscriber(
                email=email, name="", status="pending", created_at=clock.now(), updated_at=clock.now()
            )
            s.add(sub)
            s.flush()
            lifecycle.confirm(s, sub, news.id, clock.now())
        lifecycle.mark_bounced(s, person(s, "ada@example.org"), clock.now(), "550 5.1.1 nope")
        lifecycle.unsubscribe(s, person(s, "bob@example.org"), "one-click", clock.now())
    return news


@pytest.fixture
def users(ctx):
    with write_transaction(ctx.engine) as s:
        for role in ("marketer", "admin"):
            add_user(s, f"{role}@example.org", role, PASSWORD, ctx.clock.now())
    return {role: f"{role}@example.org" for role in ("marketer", "admin")}


def state(engine, email):
    with Session(engine) as s:
        sub = lifecycle.find_subscriber(s, email)
        assert sub is not None
        last = s.scalars(
            select(ConsentEvent).where(ConsentEvent.subscriber_id == sub.id).order_by(ConsentEvent.id.desc())
        ).first()
        return sub.status, lifecycle.is_suppressed(s, email), (last.source, last.detail) if last else None


def cli(settings, *args):
    env = {
        "WILDMAIL_DATABASE_URL": settings.database_url,
        "WILDMAIL_SECRET_KEY": settings.secret_key,
        "WILDMAIL_CONFIG": "/dev/null",
    }
    return runner.invoke(app, list(args), env=env)


def test_cli_lifts_a_bounce_with_a_note_in_the_consent_history(engine, settings, people, backend):
    result = cli(
        settings, "subscribers", "unsuppress", "ADA@example.org", "--note", "relay incident of 5 Jan"
    )
    assert result.exit_code == 0, result.output
    status, suppressed, last = state(engine, "ada@example.org")
    assert (status, suppressed) == ("active", False)
    assert last == ("admin", "suppression lifted by admin (cli): relay incident of 5 Jan")


@pytest.mark.parametrize(
    "args,message",
    [
        (("ada@example.org",), "a note is required"),
        (("bob@example.org", "--note", "he asked"), "only their own fresh confirmation"),
        (("cleo@example.org", "--note", "x"), "is not suppressed"),
        (("nobody@example.org", "--note", "x"), "no subscriber"),
    ],
)
def test_cli_refuses_what_it_may_not_lift(engine, settings, people, backend, args, message):
    result = cli(settings, "subscribers", "unsuppress", *args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert state(engine, "ada@example.org")[:2] == ("bounced", True)
    assert state(engine, "bob@example.org")[:2] == ("unsubscribed", True)


def test_a_reimport_never_lifts_a_suppression(engine, people, clock, tmp_path: Path, backend):
    csv = tmp_path / "again.csv"
    csv.write_text("email,name\nada@example.org,Ada\nbob@example.org,Bob\ncleo@example.org,Cleo\n")
    for status in ("active", "pending"):
        report = import_csv(engine, csv, "news", status=status, at=clock.now())
        assert report.suppressed == 2
    assert state(engine, "ada@example.org")[:2] == ("bounced", True)
    assert state(engine, "bob@example.org")[:2] == ("unsubscribed", True)
    # Once lifted by an admin, a later bounce suppresses again and a re-import still cannot undo it.
    with Session(engine) as s, s.begin():
        lifecycle.lift_bounce(s, "ada@example.org", "mailbox works again", clock.now())
        lifecycle.mark_bounced(s, person(s, "ada@example.org"), clock.now(), "550 5.1.1")
    import_csv(engine, csv, "news", at=clock.now())
    assert state(engine, "ada@example.org")[:2] == ("bounced", True)


def test_dashboard_lists_suppressions_and_an_admin_lifts_one_with_a_note(
    client,
    engine,
    people,
    users,
    backend,
):
    log_in(client, users["marketer"])
    assert client.get("/dashboard/delivery", follow_redirects=False).status_code == 403
    client.cookies.clear()
    log_in(client, users["admin"])
    page = client.get("/dashboard/delivery")
    assert page.status_code == 200
    assert "ada@example.org" in page.text and "550 5.1.1 nope" in page.text and "bob@example.org" in page.text
    forged = client.post(
        "/dashboard/suppressions/lift", data={"email": "ada@example.org", "note": "x", "csrf": "no"}
    )
    assert forged.status_code == 403 and state(engine, "ada@example.org")[:2] == ("bounced", True)
    empty = post_form(
        client, "/dashboard/delivery", "/dashboard/suppressions/lift", {"email": "ada@example.org"}
    )
    assert empty.status_code == 400 and "a note is required" in empty.text
    unsub = post_form(
        client,
        "/dashboard/delivery",
        "/dashboard/suppressions/lift",
        {"email": "bob@example.org", "note": "x"},
    )
    assert unsub.status_code == 400 and state(engine, "bob@example.org")[:2] == ("unsubscribed", True)
    ok = post_form(
        client,
        "/dashboard/delivery",
        "/dashboard/suppressions/lift",
        {"email": "ada@example.org", "note": "relay <b>incident</b>"},
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/dashboard/delivery?done=lifted"
    assert state(engine, "ada@example.org") == (
        "active",
        False,
        ("admin", "suppression lifted by admin@example.org (dashboard): relay <b>incident</b>"),
    )
    after = client.get("/dashboard/delivery?done=lifted")
    assert "Suppression lifted" in after.text and "ada@example.org" not in after.text
