"""``wildmail donations import FILE`` through the real CLI: good rows stored and matched, bad
rows named by line and column (exit 2), a rerun changes nothing; the amounts then appear in
``wildmail stats`` as text, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from donations.models import Donation
from tests.tracking.conftest import make_world
from tracking.click_ids import click_id
from wildmail.cli import app


@pytest.fixture
def cli(ctx, monkeypatch):
    monkeypatch.setenv("WILDMAIL_CONFIG", "/dev/null")
    monkeypatch.setenv("WILDMAIL_DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("WILDMAIL_SECRET_KEY", ctx.settings.secret_key)
    return ctx


def _run(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.mark.postgres
def test_import_good_and_bad_rows_then_rerun_then_stats(cli, engine, settings, clock, tmp_path):
    # sent two days ago; the import runs with the real clock, the file says when people gave
    world = make_world(engine, settings.secret, clock.now(), recipients=3, sent_ago=timedelta(days=2))
    cid = click_id(settings.secret, world.deliveries[0], world.links["donation"])
    given = (clock.now() - timedelta(days=1)).isoformat()
    day = (clock.now() - timedelta(days=1)).date().isoformat()
    path = tmp_path / "donations.csv"
    path.write_text(
        "ID,Amount,Currency,Date,Email,wm_cid,utm_campaign,Note\n"
        f"d-1,25.00,EUR,{given},,{cid},,first\n"
        f"d-2,10,eur,{day},Reader1.Leopards@example.org,,leopards,by address\n"
        f"d-3,5.5,EUR,{day},someone@example.net,,,nobody we know\n"
        f"d-4,12.345,EUR,{day},,,,too many decimals\n"
        f"d-5,10,XXQ,{day},,,,bad currency\n"
        f",10,EUR,{day},,,,no id\n"
        "d-7,10,EUR,05/03/2026,,,,not ISO\n"
        f"d-8,3000,JPY,{day},not-an-address,,,bad email\n"
        "\n",
        encoding="utf-8",
    )
    result = _run("donations", "import", str(path))
    assert result.exit_code == 2, result.output
    assert result.stdout.strip() == (
        "8 rows: 3 donations stored (1 matched by address_and_campaign, 1 matched by click_id, 1 unmatched),"
        " 0 already known, 5 refused"
    )
    errors = result.stderr.splitlines()
    assert errors[:4] == [
        f"{path}: line 5, amount: '12.345' has more than 2 decimals, which EUR does not have",
        f"{path}: line 6, currency: 'XXQ' is not a currency in use (ISO 4217)",
        f"{path}: line 7, id: is empty",
        f"{path}: line 8, date: '05/03/2026' is not a date like 2026-03-05 or 2026-03-05T10:00Z",
    ]
    assert errors[4].startswith(f"{path}: line 9, email: invalid email address: ")
    with Session(engine) as s:
        rows = {d.external_id: d for d in s.scalars(select(Donation))}
    assert {k: (d.amount, d.currency, d.match) for k, d in rows.items()} == {
        "d-1": (2500, "EUR", "click_id"),
        "d-2": (1000, "EUR", "address_and_campaign"),
        "d-3": (550, "EUR", "unmatched"),
    }
    assert rows["d-2"].delivery_id == world.deliveries[1] and rows["d-1"].source == "csv"

    rerun = _run("donations", "import", str(path))
    assert "8 rows: 0 donations stored, 3 already known, 5 refused" in rerun.stdout
    with Session(engine) as s:
        assert len(s.scalars(select(Donation)).all()) == 3

    data = json.loads(_run("stats", "leopards", "--json").stdout)["total"]
    assert (data["donations"], data["raised"]) == (2, {"EUR": 3500})
    assert data["revenue_per_1000"] == {"EUR": round(3500 * 1000 / 3)}
    rows_csv = list(csv.DictReader(io.StringIO(_run("stats", "leopards", "--csv").stdout)))
    assert (rows_csv[-1]["position"], rows_csv[-1]["raised_EUR"], rows_csv[-1]["donations"]) == (
        "total",
        "35.00",
        "2",
    )
    assert rows_csv[-1]["revenue_per_1000_EUR"] == "11666.67"  # 35 EUR from 3 delivered
    overview = list(csv.DictReader(io.StringIO(_run("stats", "--csv").stdout)))
    assert overview[0]["raised_EUR"] == "35.00"
    text = _run("stats", "leopards").stdout
    assert "All emails: 2 donations, 35.00 EUR raised, 11666.67 EUR per 1,000 delivered" in text


def test_a_file_that_cannot_be_imported_is_one_line_and_exit_2(cli, tmp_path):
    missing = tmp_path / "export.csv"
    missing.write_text("id,amount,date\nd-1,10,2026-03-05\n", encoding="utf-8")
    result = _run("donations", "import", str(missing))
    assert result.exit_code == 2
    assert f"{missing}, line 1: missing column(s) currency" in result.stderr
    nowhere = _run("donations", "import", str(tmp_path / "nope.csv"))
    assert nowhere.exit_code == 2 and "cannot open" in nowhere.stderr
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        "id,amount,currency,date,email\nd-1,10,EUR,2026-03-05,jos\xe9@example.org\n".encode("latin-1")
    )
    assert "try --encoding latin-1" in _run("donations", "import", str(latin)).stderr
    assert _run("donations", "import", str(latin), "--encoding", "latin-1").exit_code == 0
