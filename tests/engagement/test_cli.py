"""``wildmail engagement`` and the list table end to end: real SQLite file, exit codes, JSON."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from campaigns.models import Campaign
from subscribers.models import SubscriberList
from tests.delivery.factories import make_campaign
from wildmail.cli import app


@pytest.fixture
def run(db_url, monkeypatch):
    monkeypatch.setenv("WILDMAIL_DATABASE_URL", db_url)
    monkeypatch.setenv("WILDMAIL_CONFIG", "/dev/null")
    monkeypatch.setenv("WILDMAIL_SECRET_KEY", "cli-test-secret-key-not-for-production")
    runner = CliRunner()

    def invoke(*args: str, code: int = 0):
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, (args, result.output, result.exception)
        assert "Traceback" not in result.output
        return result

    return invoke


def test_switches_policies_and_report(run, ctx):
    c = make_campaign(ctx, emails=2)
    out = run("engagement", "send-time", "leopard", "--on", "--window", "8-19").output
    assert "on for half of the readers" in out and "08:00-19:00" in out
    with ctx.session() as s:
        stored = s.scalars(select(Campaign)).one()
        assert (stored.sto_enabled, stored.sto_window_start, stored.sto_window_end) == (True, 8, 19)
    assert "'19-8'" in run("engagement", "send-time", "leopard", "--on", "--window", "19-8", code=2).output
    assert "no campaign named 'tiger'" in run("engagement", "send-time", "tiger", "--off", code=2).output

    assert "after 8 silent emails, 14 days" in run("engagement", "sunset", "main").output
    out = run("engagement", "sunset", "main", "--after", "5", "--wait-days", "10", "--unknown").output
    assert "after 5 silent emails, 10 days to answer, machine-only readers too" in out
    assert "--after 1" in run("engagement", "sunset", "main", "--after", "1", code=2).output
    assert "no list named 'nope'" in run("engagement", "sunset", "nope", code=2).output
    lists = run("subscribers", "lists").output
    assert "inactive" in lists and "after 5" in lists
    assert run("engagement", "sunset", "main", "--off").output.strip().endswith("off")
    with ctx.session() as s:
        assert s.scalars(select(SubscriberList)).one().sunset_after == 0

    data = json.loads(run("engagement", "report", "leopard", "--json").output)
    assert data["send_time"]["enabled"] is True and data["send_time"]["window"] == [8, 19]
    assert [h["arm"] for h in data["send_time"]["halves"]] == ["sto", "control"]
    assert data["sunset"]["inactive"] == 0 and c.slug == data["campaign"]
    assert "send-time optimisation: on" in run("engagement", "report", "leopard").output
    assert "no campaign named 'tiger'" in run("engagement", "report", "tiger", code=2).output
    assert "Send-time optimisation (human opens and clicks): sto - opened" in run("stats", "leopard").output
