"""The campaign lifecycle has one owner (``delivery.lifecycle``) and one error type for every refusal."""

from __future__ import annotations

from datetime import date

import pytest

from delivery import lifecycle
from delivery.smtp_transport import SmtpTransport
from tests.delivery.factories import add_subscribers, make_campaign

pytestmark = pytest.mark.postgres

ARTICLE = "---\ntitle: Leopards\n---\nIntro.\n\n# Range\n\nForests.\n"


def _refusal(call) -> lifecycle.CampaignError:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError) as caught:
        call()
    return caught.value  # type: ignore[return-value]


def test_every_refusal_is_the_one_campaign_error(ctx, smtp_server) -> None:
    make_campaign(ctx)
    transport = SmtpTransport("127.0.0.1", smtp_server.port, timeout=5)

    def create_again() -> None:
        with ctx.session() as s:
            options = lifecycle.CampaignOptions(name="Leopard")
            lifecycle.create_campaign_from_text(s, ctx.settings, ARTICLE, options, ctx.clock.now())

    def edit_missing_email() -> None:
        with ctx.session() as s:
            lifecycle.edit_email(s, ctx.settings, lifecycle.get_campaign(s, "leopard"), 9, subject="x")

    refusals = {
        "create": create_again,
        "edit": edit_missing_email,
        "pause": lambda: lifecycle.pause_campaign(ctx, "leopard"),
        "resume": lambda: lifecycle.resume_campaign(ctx, "leopard"),
        "schedule": lambda: lifecycle.schedule_campaign(ctx, "no-such-campaign"),
        "status": lambda: lifecycle.campaign_status(ctx, "no-such-campaign"),
        "test-send": lambda: lifecycle.test_send(ctx, ctx.sender(), "leopard", [], transport),
        "timetable": lambda: lifecycle.set_timetable(
            ctx, "leopard", weekday="1", hour="9", timezone="UTC", mode="drip", list_slug="nope"
        ),
    }
    for step, call in refusals.items():
        error = _refusal(call)
        assert isinstance(error, lifecycle.CampaignError), (step, type(error))
        assert isinstance(error, lifecycle.USER_ERRORS), step
    assert smtp_server.messages == []


def test_timetable_changes_a_draft_only(ctx) -> None:
    make_campaign(ctx)
    add_subscribers(ctx, 2)
    lifecycle.set_timetable(
        ctx, "leopard", weekday="4", hour="18", timezone="Europe/Paris", mode="broadcast", start="2026-03-02"
    )
    with ctx.session() as s:
        c = lifecycle.get_campaign(s, "leopard")
        assert (c.send_weekday, c.send_hour, c.timezone, c.mode) == (4, 18, "Europe/Paris", "broadcast")
        assert c.start_date == date(2026, 3, 2) and c.list_id is None
    lifecycle.set_timetable(
        ctx, "leopard", weekday="0", hour="9", timezone="UTC", mode="drip", list_slug="main"
    )
    assert lifecycle.schedule_campaign(ctx, "leopard") == 2
    error = _refusal(
        lambda: lifecycle.set_timetable(ctx, "leopard", weekday="1", hour="9", timezone="UTC", mode="drip")
    )
    assert "before the campaign starts" in str(error)
    with ctx.session() as s:
        assert lifecycle.get_campaign(s, "leopard").send_weekday == 0
