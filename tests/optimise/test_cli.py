"""``wildmail campaign subject-test|subject-test-show|subject-test-stop|resend`` and the figures in
``wildmail stats``, through the real CLI on the test database."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.optimise.conftest import Series
from wildmail.cli import app


@pytest.fixture
def cli(series: Series, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Series:
    monkeypatch.setenv("WILDMAIL_DATABASE_URL", db_url)
    monkeypatch.setenv("WILDMAIL_CONFIG", "/dev/null")
    monkeypatch.setenv("WILDMAIL_SECRET_KEY", series.ctx.settings.secret_key)
    return series


def _run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_a_subject_test_from_the_command_line(cli: Series) -> None:
    started = _run(
        *("campaign", "subject-test", "leopard", "--email", "1"),
        *("--variant", "Meet the leopard|Eighty-four left", "--variant", "Only 84 leopards left"),
        *("--criterion", "human_clicks", "--confidence", "0.9", "--max-sample", "400"),
    )
    assert started.exit_code == 0, started.output
    assert "subject test started on email 1 of leopard with 2 variants" in started.stdout
    shown = _run("campaign", "subject-test-show", "leopard")
    assert "Subject test of email 1 (human clicks, confidence 90%, max sample 400): running" in shown.stdout
    assert "1. 'Meet the leopard'" in shown.stdout and "2. 'Only 84 leopards left'" in shown.stdout
    data = json.loads(_run("stats", "leopard", "--json").stdout)
    (test,) = data["subject_tests"]
    assert test["status"] == "running" and [v["subject"] for v in test["variants"]] == [
        "Meet the leopard",
        "Only 84 leopards left",
    ]
    assert test["variants"][0]["preheader"] == "Eighty-four left" and test["variants"][0]["trials"] == 0
    again = _run("campaign", "subject-test", "leopard", "--email", "1", "--variant", "A", "--variant", "B")
    assert again.exit_code == 2 and "already has a subject test" in again.stderr
    stopped = _run("campaign", "subject-test-stop", "leopard", "--email", "1", "--winner", "2")
    assert stopped.exit_code == 0
    assert "stopped by hand: variant 2 kept" in _run("stats", "leopard").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--variant", "Only one"), "give 2 to 4 variants (got 1)"),
        (("--variant", "A", "--variant", "B", "--criterion", "opens"), "criterion 'opens' is not one of"),
        (("--variant", "A", "--variant", "B", "--confidence", "1.5"), "confidence 1.5 must be between"),
        (("--variant", "A", "--variant", "|pre"), "variant '|pre' has no subject"),
        (("--variant", "A", "--variant", "B", "--max-sample", "10"), "max sample 10 is too small"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(cli: Series, args: tuple[str, ...], message: str) -> None:
    result = _run("campaign", "subject-test", "leopard", "--email", "1", *args)
    assert result.exit_code == 2 and message in result.stderr
    assert "Traceback" not in result.output


def test_a_resend_from_the_command_line(cli: Series) -> None:
    on = _run(
        *("campaign", "resend", "leopard", "--email", "2", "--variant", "Did you miss this?|The forest"),
        *("--after-days", "3"),
    )
    assert on.exit_code == 0 and "goes again to its non-openers after 3 days" in on.stdout
    shown = _run("campaign", "subject-test-show", "leopard").stdout
    assert "Resend of email 2 after 3 days with 'Did you miss this?': 0 resent of 0 sent" in shown
    assert json.loads(_run("stats", "leopard", "--json").stdout)["resends"][0]["include_unknown"] is False
    late = _run("campaign", "resend", "leopard", "--email", "2", "--variant", "X", "--after-days", "8")
    assert late.exit_code == 2 and "shorter than the series' cadence (7 days)" in late.stderr
    off = _run("campaign", "resend", "leopard", "--email", "2", "--off")
    assert off.exit_code == 0 and "no more resends of email 2" in off.stdout
