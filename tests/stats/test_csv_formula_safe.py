"""``wildmail stats --csv`` and both dashboard CSV downloads never hand a spreadsheet a formula."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.dashboard.conftest import fast_hashing, log_in, users  # noqa: F401 (fixtures)
from tests.stats import scenario as sc
from tests.subscribers.test_export_formula_safe import assert_formula_safe
from wildmail.cli import app

TITLE = "+cmd|' /C calc'!A0"
SUBJECTS = ('=HYPERLINK("http://evil.example/","Click")', "@SUM(1+9)", "-2+3")


def _hostile_campaign(s: Session) -> None:
    c = sc.build_leopard(s)
    c.title = TITLE
    for email, subject in zip(c.emails, SUBJECTS, strict=True):
        email.subject = subject
    s.commit()


def _check_report(text: str) -> None:
    header, *rows = assert_formula_safe(text)
    figures = [dict(zip(header, row, strict=True)) for row in rows]
    assert [f["subject"] for f in figures] == ["'" + s for s in SUBJECTS] + ["All emails"]
    # figures we computed stay plain numbers
    assert figures[0]["delivered"] == "5" and figures[0]["click_to_open"] == "0.6667"
    assert figures[-1]["position"] == "total" and figures[-1]["human_openers"] == "6"


def _check_overview(text: str) -> None:
    header, *rows = assert_formula_safe(text)
    [leopard] = [dict(zip(header, row, strict=True)) for row in rows]
    assert (leopard["campaign"], leopard["title"]) == ("leopard", "'" + TITLE)
    assert leopard["emails"] == "3" and leopard["human_openers"] == "6"


@pytest.mark.postgres
def test_stats_csv_cli_neutralises_titles_and_subjects(db_url, engine, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WILDMAIL_DATABASE_URL", db_url)
    monkeypatch.setenv("WILDMAIL_CONFIG", "/dev/null")
    with Session(engine) as s:
        _hostile_campaign(s)
    runner = CliRunner()
    report = runner.invoke(app, ["stats", "leopard", "--csv"])
    assert report.exit_code == 0, report.output
    _check_report(report.stdout)
    overview = runner.invoke(app, ["stats", "--csv"])
    assert overview.exit_code == 0, overview.output
    _check_overview(overview.stdout)


def test_dashboard_csv_downloads_neutralise_titles_and_subjects(client, users, engine, clock) -> None:  # noqa: F811
    with Session(engine) as s:
        _hostile_campaign(s)
    clock.advance(days=30)  # every scenario event has settled
    assert log_in(client, users["staff"]).status_code == 303
    report = client.get("/dashboard/campaigns/leopard/export.csv")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
    _check_report(report.text)
    overview = client.get("/dashboard/export.csv")
    assert overview.status_code == 200
    _check_overview(overview.text)
