"""``wildmail inbound process`` (files, mbox, stdin, bad names), and what the figures and
``campaign status`` then show."""

from __future__ import annotations

import json
import mailbox
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from subscribers.models import Subscriber
from tests.delivery.factories import add_subscribers, make_campaign
from tests.inbound import helpers as h
from tracking.models import Event
from wildmail.cli import app


@pytest.fixture
def cli(ctx, monkeypatch):
    monkeypatch.setenv("WILDMAIL_CONFIG", "/dev/null")
    monkeypatch.setenv("WILDMAIL_DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("WILDMAIL_SECRET_KEY", ctx.settings.secret_key)
    return ctx


def _run(*args: str, stdin: bytes | None = None):
    return CliRunner().invoke(app, list(args), input=stdin)


def test_process_files_mbox_and_stdin_then_the_figures(cli, tmp_path) -> None:
    ctx = cli
    campaign = make_campaign(ctx, emails=1)
    people = add_subscribers(ctx, 4)
    ids = h.sent_deliveries(ctx, campaign.id, people)
    one = tmp_path / "hard.eml"
    one.write_bytes(h.dsn("reader0@example.org", to=h.return_path(ctx, ids[0])))
    box = mailbox.mbox(tmp_path / "bounces.mbox")
    box.add(h.dsn("reader1@example.org", "4.2.2", "smtp; 452 4.2.2 full", to=h.return_path(ctx, ids[1])))
    box.add(h.dsn("reader2@example.org", "5.7.1", "smtp; 550 5.7.1 spam", to=h.return_path(ctx, ids[2])))
    box.flush()
    box.close()
    result = _run("inbound", "process", str(one), str(tmp_path / "bounces.mbox"))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{one}: hard suppressed (delivery {ids[0]})")
    assert lines[1].startswith(f"{tmp_path / 'bounces.mbox'}#1: soft counted")
    assert lines[2].startswith(f"{tmp_path / 'bounces.mbox'}#2: block counted")
    piped = _run("inbound", "process", "-", stdin=h.arf("reader3@example.org", to=h.return_path(ctx, ids[3])))
    assert piped.stdout.startswith("-: complaint suppressed")
    with Session(ctx.engine) as s:
        statuses = [s.get(Subscriber, p).status for p in people]  # type: ignore[union-attr]
    assert statuses == ["bounced", "active", "active", "complained"]
    with ctx.engine.begin() as conn:  # an hour later: the rollup folds only settled events
        conn.execute(update(Event).values(at=datetime.now(UTC) - timedelta(hours=1)))
    total = json.loads(_run("stats", "leopard", "--json").stdout)["total"]
    assert (total["bounced"], total["soft_bounces"], total["blocked"], total["complaints"]) == (1, 1, 1, 1)
    assert total["delivered"] == 1  # four sent: one hard, one soft, one blocked
    table = _run("stats", "leopard").stdout
    assert "Soft bounces" in table and "Complaints" in table
    status = _run("campaign", "status", "leopard").stdout
    assert "alert: 1 deliveries refused later for policy or reputation; latest: DSN: 5.7.1" in status


def test_a_missing_file_is_named_and_the_others_still_processed(cli, tmp_path) -> None:
    good = tmp_path / "reply.eml"
    good.write_bytes(b"From: a@example.org\r\nSubject: Re: hello\r\n\r\nthanks\r\n")
    result = _run("inbound", "process", str(tmp_path / "nope.eml"), str(good))
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {tmp_path / 'nope.eml'}: cannot read (No such file or directory)"]
    assert "Traceback" not in result.stdout
    assert f"{good}: unknown ignored" in result.stdout


def test_campaign_status_shows_why_the_breaker_paused_it(cli) -> None:
    ctx = cli
    campaign = make_campaign(ctx, emails=1)
    ids = h.sent_deliveries(ctx, campaign.id, add_subscribers(ctx, 10))
    ctx.settings = ctx.settings.with_overrides(breaker_min_deliveries=10)
    from inbound.intake import Arrival, Intake, process

    intake = Intake.from_settings(ctx.settings)
    for n in range(2):
        raw = h.arf(f"reader{n}@example.org")
        process(ctx.engine, intake, Arrival(raw, "file", (h.return_path(ctx, ids[n]),)), ctx.clock.now())
    status = _run("campaign", "status", "leopard")
    assert "paused itself: circuit breaker: complaints 1 of 10 sends" in status.stdout
    data = json.loads(_run("campaign", "status", "leopard", "--json").stdout)
    assert data["status"] == "paused" and data["pause_reason"].startswith("circuit breaker")
    resumed = _run("campaign", "resume", "leopard")
    assert resumed.exit_code == 0
    assert "paused itself" not in _run("campaign", "status", "leopard").stdout


def test_recent_and_suppressed_list_what_was_decided(cli) -> None:
    ctx = cli
    campaign = make_campaign(ctx, emails=1)
    ids = h.sent_deliveries(ctx, campaign.id, add_subscribers(ctx, 2))
    piped = _run("inbound", "process", "-", stdin=h.dsn("reader0@example.org", to=h.return_path(ctx, ids[0])))
    assert piped.exit_code == 0
    recent = _run("inbound", "recent").stdout
    assert f"file: hard suppressed (delivery {ids[0]}): DSN: 5.1.1" in recent
    listed = _run("inbound", "suppressed").stdout
    assert "reader0@example.org\tbounced" in listed and "reader1" not in listed
    lifted = _run("subscribers", "unsuppress", "reader0@example.org", "--note", "mailbox restored")
    assert lifted.exit_code == 0, lifted.output
    assert "nobody is suppressed" in _run("inbound", "suppressed").stdout
