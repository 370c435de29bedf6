"""The dashboard's campaign flow through ``delivery.lifecycle``: body edits, duplicate, the schedule
preview (recipients and first send) and scheduling now."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from campaigns.compiling import render_row
from campaigns.markup import render_paragraph, text_as_markdown
from campaigns.models import Enrolment
from delivery import lifecycle
from delivery.enqueue import tick
from delivery.models import Delivery
from tests.delivery.factories import add_subscribers, make_campaign

pytestmark = pytest.mark.postgres

PLAIN = (
    "Leopards\n\nThe Amur leopard lives in *forests* near the border; see https://example.org/map_(1).\n\n"
    "Range\n\n- not a list, 5 > 3 and a_b & c\n1. not numbered either\n\nThreats\n\nRoads and [fires].\n"
)


def _create(ctx, name: str = "Leopards", text: str = PLAIN, list_slug: str | None = None) -> None:
    with ctx.session() as s:
        options = lifecycle.CampaignOptions(name=name, list_slug=list_slug)
        lifecycle.create_campaign_from_text(s, ctx.settings, text, options, ctx.clock.now(), fmt="text")
        s.commit()


@pytest.mark.parametrize(
    "text",
    [
        PLAIN,
        "# not a heading\n    not code\n---\n=== \\ back `tick` <b>x</b> &amp; [a](b) **c** _d_",
        "2) x\n+ y\n> z\nhttps://example.org/a_b*c), end.",
    ],
)
def test_plain_text_as_markdown_renders_the_same(text: str) -> None:
    for paragraph in (p.strip() for p in text.split("\n\n")):
        plain = render_paragraph(paragraph, "text", 1)
        markdown = render_paragraph(text_as_markdown(paragraph), "markdown", 1)
        assert " ".join(markdown.html.split()) == " ".join(plain.html.split()), paragraph
        assert markdown.links == plain.links


def test_editing_a_body_recompiles_and_keeps_the_other_emails_as_they_were(ctx) -> None:
    _create(ctx)
    with ctx.session() as s:
        campaign = lifecycle.get_campaign(s, "leopards")
        assert campaign.source_format == "text" and len(campaign.emails) >= 2
        before = [render_row(campaign, e, ctx.settings).html for e in campaign.emails[1:]]
    with ctx.session() as s:
        campaign = lifecycle.get_campaign(s, "leopards")
        body = "Leopards **need** room.\r\n\r\n\r\nSee [the map](https://example.org/range).\n"
        email = lifecycle.edit_email(s, ctx.settings, campaign, 1, body=body)
        s.commit()
        assert email.paragraphs == ["Leopards **need** room.", "See [the map](https://example.org/range)."]
        assert "<strong>need</strong>" in email.compiled_html
        assert "https://example.org/range" in {link.url for link in email.links}
        assert email.word_count == 6
        assert (
            lifecycle.email_body(campaign, email)
            == "Leopards **need** room.\n\nSee [the map](https://example.org/range)."
        )
    with ctx.session() as s:
        campaign = lifecycle.get_campaign(s, "leopards")
        assert campaign.source_format == "markdown"
        after = [render_row(campaign, e, ctx.settings).html for e in campaign.emails[1:]]
        assert after == before  # the other emails read exactly as before


def test_a_refused_edit_changes_nothing(ctx) -> None:
    _create(ctx)
    with ctx.session() as s:
        campaign = lifecycle.get_campaign(s, "leopards")
        email = campaign.emails[0]
        kept = (email.subject, list(email.paragraphs), campaign.source_format)
        for subject, body, message in (
            ("", "New text", "subject cannot be empty"),
            ("Fine", " \n\n  \n", "body cannot be empty"),
            (None, "x" * (lifecycle.BODY_MAX_CHARS + 1), "the limit is"),
        ):
            with pytest.raises(lifecycle.CampaignError, match=message):
                lifecycle.edit_email(s, ctx.settings, campaign, 1, subject=subject, body=body)
            assert (email.subject, list(email.paragraphs), campaign.source_format) == kept


def test_duplicate_is_a_draft_copy_of_the_emails_as_edited(ctx) -> None:
    make_campaign(ctx)  # the "main" list
    _create(ctx, list_slug="main")
    with ctx.session() as s:
        campaign = lifecycle.get_campaign(s, "leopards")
        lifecycle.edit_email(s, ctx.settings, campaign, 1, subject="Edited subject")
        s.commit()
    lifecycle.schedule_campaign(ctx, "leopards")
    with ctx.session() as s:
        original = lifecycle.get_campaign(s, "leopards")
        copy = lifecycle.duplicate_campaign(s, ctx.settings, original, "Leopards  again", ctx.clock.now())
        s.commit()
        assert (copy.slug, copy.title, copy.status, copy.start_date) == (
            "leopards-again",
            "Leopards again",
            "draft",
            None,
        )
        assert copy.list_id == original.list_id and copy.send_hour == original.send_hour
        assert [e.subject for e in copy.emails] == [e.subject for e in original.emails]
        assert copy.emails[0].subject == "Edited subject"
        assert [e.paragraphs for e in copy.emails] == [e.paragraphs for e in original.emails]
        assert all(e.compiled_html and e.links for e in copy.emails)
        with pytest.raises(lifecycle.CampaignError, match="already exists"):
            lifecycle.duplicate_campaign(s, ctx.settings, original, "Leopards again", ctx.clock.now())


def test_schedule_preview_counts_recipients_and_the_first_send_per_zone(ctx, clock) -> None:
    make_campaign(ctx, weekday=2, hour=10, tz="Europe/Berlin")  # Wednesdays at 10:00 Berlin
    add_subscribers(
        ctx,
        [
            ("a@example.org", "A", None),
            ("b@example.org", "B", "America/New_York"),
            ("c@example.org", "C", None),
        ],
    )
    add_subscribers(ctx, [("gone@example.org", "G", None)], status="unsubscribed")
    slot = lifecycle.schedule_preview(ctx, "leopard")
    assert slot.recipients == 3 and not slot.at_once and slot.list_name == "Main list"
    assert slot.first_send == datetime(2026, 1, 7, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
    assert slot.last_first_send == datetime(2026, 1, 7, 15, 0, tzinfo=UTC)  # 10:00 in New York
    now = lifecycle.schedule_preview(ctx, "leopard", clock.now())
    assert now.recipients == 3 and now.first_send == now.last_first_send == clock.now()
    with ctx.session() as s:  # a preview changes nothing
        assert lifecycle.get_campaign(s, "leopard").status == "draft"
        assert s.scalar(select(func.count()).select_from(Enrolment)) == 0


def test_schedule_now_makes_email_one_due_at_once(ctx, clock) -> None:
    make_campaign(ctx, weekday=2, hour=10)
    add_subscribers(ctx, 3)
    assert lifecycle.schedule_campaign(ctx, "leopard", clock.now()) == 3
    with ctx.session() as s:
        due = s.scalars(select(Enrolment.next_send_at)).all()
    assert due == [clock.now()] * 3
    assert tick(ctx, ctx.message_ids).queued == 3  # queued by the next tick, not next Wednesday
    with ctx.session() as s:
        assert s.scalar(select(func.count()).select_from(Delivery)) == 3
        nxt = set(s.scalars(select(Enrolment.next_send_at)).all())
        assert nxt == {datetime(2026, 1, 12, 10, 0, tzinfo=UTC)}  # email 2 a cadence later, at the slot hour
        with pytest.raises(lifecycle.CampaignInUse):
            lifecycle.delete_campaign(s, lifecycle.get_campaign(s, "leopard"))
    with pytest.raises(lifecycle.CampaignError, match="already"):
        lifecycle.schedule_preview(ctx, "leopard")


def test_a_draft_without_deliveries_can_be_deleted(ctx) -> None:
    make_campaign(ctx)
    with ctx.session() as s:
        lifecycle.delete_campaign(s, lifecycle.get_campaign(s, "leopard"))
        s.commit()
    with ctx.session() as s, pytest.raises(lifecycle.CampaignNotFound):
        lifecycle.get_campaign(s, "leopard")
