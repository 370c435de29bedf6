"""The campaign commands through typer's CliRunner on a real SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.compiled import compiled_email
from campaigns.models import Campaign, Email, Link
from delivery.models import Delivery
from subscribers.models import Subscriber
from tests.campaigns.conftest import SAMPLE


def test_split_json_of_the_seed(run, seed_article):
    result = run("campaign", "split", seed_article, "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert [e["position"] for e in plan] == [1, 2, 3, 4, 5, 6]
    assert plan[3]["title"] == "How many are left"
    assert set(plan[0]) >= {"position", "title", "subject", "preheader", "paragraphs", "word_count"}
    assert all(isinstance(p, str) for e in plan for p in e["paragraphs"])


def test_split_table_and_parts(run, cli_env):
    path = cli_env / "essay.txt"
    path.write_text("\n\n".join(f"Paragraph {i} has a few words in it." for i in range(9)), encoding="utf-8")
    result = run("campaign", "split", path, "--parts", "3", "--json")
    assert result.exit_code == 0, result.output
    assert [e["subject"] for e in json.loads(result.output)] == [f"Essay ({i}/3)" for i in (1, 2, 3)]
    table = run("campaign", "split", path, "--parts", "3")
    assert table.exit_code == 0 and "Essay (2/3)" in table.output


def _fake_eml_builder(_ctx):
    return lambda email: f"Subject: {email.subject}\r\n\r\nbody\r\n".encode()


def test_create_list_show_edit_preview_delete(run, cli_env, engine, monkeypatch):
    # MIME is built by the delivery package (tested there); here: preview hands each email to the builder.
    monkeypatch.setattr("wildmail.cli.campaign._eml_builder", _fake_eml_builder)
    created = run(
        "campaign",
        "create",
        SAMPLE,
        "--name",
        "Amur Leopard 2026",
        "--start",
        "2026-02-03",
        "--weekday",
        "wed",
        "--hour",
        "10",
        "--timezone",
        "Europe/Paris",
        "--mode",
        "broadcast",
        "--engine",
        "premailer",
    )
    assert created.exit_code == 0, created.output
    assert "amur-leopard-2026" in created.output
    with Session(engine) as s:
        campaign = s.scalars(select(Campaign)).one()
        assert (campaign.send_weekday, campaign.send_hour, campaign.timezone) == (2, 10, "Europe/Paris")
        assert campaign.mode == "broadcast" and campaign.start_date == date(2026, 2, 3)
        assert campaign.render_engine == "premailer" and campaign.source_format == "markdown"
        assert campaign.donation_url == "https://donate.wildmail.example/amur-leopard"  # from front matter
        assert len(campaign.emails) == 6
        for email in campaign.emails:
            kinds = [link.kind for link in email.links]
            assert kinds[-2:] == ["donation", "honeypot"]
            compiled = compiled_email(email)
            assert {"NAME", "OPEN_URL", "UNSUBSCRIBE_URL"} <= compiled.placeholders
            assert {f"LINK_{link.position}" for link in email.links} <= compiled.placeholders
        link_ids = [link.id for link in campaign.emails[1].links]

    listed = run("campaign", "list")
    assert listed.exit_code == 0 and "amur-leopard-2026" in listed.output
    shown = run("campaign", "show", "Amur Leopard 2026")
    assert shown.exit_code == 0 and "How many are left" in shown.output

    edited = run(
        "campaign",
        "edit",
        "amur-leopard-2026",
        "--position",
        "2",
        "--subject",
        "Where it roamed",
        "--preheader",
        "From Korea to the Amur.",
    )
    assert edited.exit_code == 0, edited.output
    with Session(engine) as s:
        email = s.scalars(select(Email).where(Email.position == 2)).one()
        assert email.subject == "Where it roamed"
        assert "From Korea to the Amur." in email.compiled_html
        assert [link.id for link in email.links] == link_ids  # recompiling keeps link ids

    bad_edit = run("campaign", "edit", "amur-leopard-2026", "--position", "9", "--subject", "x")
    assert bad_edit.exit_code == 2 and "not 9" in bad_edit.output
    injected = run("campaign", "edit", "amur-leopard-2026", "--position", "1", "--subject", "a\r\nBcc: x@y")
    assert injected.exit_code == 2 and "single line" in injected.output

    preview = run("campaign", "preview", "amur-leopard-2026", "--out", cli_env / "pv")
    assert preview.exit_code == 0, preview.output
    htmls = sorted((cli_env / "pv").glob("*.html"))
    texts = sorted((cli_env / "pv").glob("*.txt"))
    assert len(htmls) == 6 and len(texts) == 6
    page = htmls[4].read_text(encoding="utf-8")
    assert "%%WM_" not in page and "Hello Alex," in page
    assert 'href="https://leopard-land.ru/en"' in page
    assert "Hello Alex," in texts[0].read_text(encoding="utf-8")
    emls = sorted((cli_env / "pv").glob("*.eml"))
    assert [p.stem for p in emls] == [p.stem for p in htmls]
    assert emls[1].read_bytes().startswith(b"Subject: Where it roamed")

    deleted = run("campaign", "delete", "amur-leopard-2026")
    assert deleted.exit_code == 0, deleted.output
    with engine.connect() as conn:
        for table in (Campaign, Email, Link):
            assert conn.scalar(select(func.count()).select_from(table)) == 0


def test_duplicate_name_and_unknown_campaign(run, seed_article):
    assert run("campaign", "create", seed_article, "--name", "Leopards").exit_code == 0
    again = run("campaign", "create", seed_article, "--name", "leopards!")
    assert again.exit_code == 2 and "already exists" in again.output
    for command in (["show", "nope"], ["delete", "nope"], ["preview", "nope"]):
        result = run("campaign", *command)
        assert result.exit_code == 2 and "no campaign named 'nope'" in result.output


def test_delete_is_refused_once_a_delivery_exists(run, seed_article, engine):
    assert run("campaign", "create", seed_article, "--name", "Leopards").exit_code == 0
    now = datetime(2026, 1, 5, 8, tzinfo=UTC)
    with Session(engine) as s:
        email = s.scalars(select(Email).where(Email.position == 1)).one()
        subscriber = Subscriber(email="reader@example.org", created_at=now, updated_at=now)
        s.add(subscriber)
        s.flush()
        s.add(
            Delivery(
                subscriber_id=subscriber.id,
                email_id=email.id,
                campaign_id=email.campaign_id,
                position=1,
                next_attempt_at=now,
                message_id="<m@x>",
                queued_at=now,
                updated_at=now,
            )
        )
        s.commit()
    result = run("campaign", "delete", "leopards")
    assert result.exit_code == 2 and "already has deliveries" in result.output
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Campaign)) == 1
