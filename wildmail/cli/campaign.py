"""``wildmail campaign``: split, create, list, show, edit, delete, preview.

The sending commands (schedule, pause, resume, status, test-send) are in
:mod:`wildmail.cli.campaign_send` and added to this group at the end of this file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import typer
from sqlalchemy.orm import Session

from campaigns.article import READERS, read_article_file
from campaigns.models import Campaign
from campaigns.preview import SAMPLE_NAME, EmlBuilder, write_eml_preview, write_preview
from campaigns.splitter import split_article
from delivery import lifecycle
from delivery.compose import preview_eml
from wildmail.cli import campaign_archive, campaign_send, campaign_tuning
from wildmail.cli.common import EXIT_FAILURE, console, context, fail
from wildmail.cli.tables import Grid, print_grid
from wildmail.core.db import write_session
from wildmail.runtime.context import AppContext

app = typer.Typer(
    help="Campaigns: split an article, create, preview, test-send, schedule, pause, resume.",
    no_args_is_help=True,
)


@contextmanager
def _session(*, secret: bool = False) -> Iterator[tuple[AppContext, Session]]:
    """A context and session; user mistakes become one-line errors with exit code 2."""
    ctx = context(secret=secret)
    try:
        with write_session(ctx.engine) as session:
            try:
                yield ctx, session
            except lifecycle.USER_ERRORS as exc:
                session.rollback()
                fail(str(exc))
    finally:
        ctx.close()


@app.command()
def split(
    file: Path = typer.Argument(..., help="Article: Markdown (.md), plain text, HTML page or Word .docx."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    parts: int | None = typer.Option(None, "--parts", min=1, help="Parts for an article without headings."),
) -> None:
    """Show how an article splits into emails (the database is not touched)."""
    try:
        plan = lifecycle.plan_file(file, parts)
    except lifecycle.USER_ERRORS as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps([e.as_json() for e in plan.emails], ensure_ascii=False, indent=2))
        return
    console.print(f"read {file} as {READERS.get(plan.reader, plan.reader)}", highlight=False, markup=False)
    for notice in plan.notices:
        console.print(f"note: {notice}", highlight=False, markup=False)
    grid = Grid(
        f"{plan.title} ({len(plan.emails)} emails)",
        ["#", "Subject", "Preheader", "Paragraphs", "Words", "Min"],
        key=2,
        right={0, 3, 4, 5},
    )
    for e in plan.emails:
        grid.add(
            str(e.position),
            e.subject,
            e.preheader,
            str(len(e.paragraphs)),
            str(e.word_count),
            str(e.reading_minutes),
        )
    print_grid(console, grid)


@app.command()
def create(
    file: Path = typer.Argument(..., help="Article: Markdown (.md), plain text, HTML page or Word .docx."),
    name: str = typer.Option(..., "--name", help="Campaign name (its slug is derived from it)."),
    list_slug: str | None = typer.Option(None, "--list", help="Subscriber list slug."),
    start: str | None = typer.Option(None, "--start", help="First send date, YYYY-MM-DD."),
    weekday: str | None = typer.Option(None, "--weekday", help="Send weekday: mon..sun (default tue)."),
    hour: int | None = typer.Option(None, "--hour", help="Local send hour 0..23 (default 9)."),
    timezone: str | None = typer.Option(None, "--timezone", help="Fallback time zone, e.g. Europe/Paris."),
    mode: str | None = typer.Option(None, "--mode", help="drip or broadcast (default drip)."),
    donation_url: str | None = typer.Option(None, "--donation-url", help="Donation button target."),
    donation_text: str | None = typer.Option(None, "--donation-text", help="Donation button wording."),
    engine: str | None = typer.Option(None, "--engine", help="CSS inliner: css-inline or premailer."),
    template: str | None = typer.Option(
        None,
        "--template",
        help="Email template by name: default, letter, or one in the template_dir setting.",
    ),
    parts: int | None = typer.Option(None, "--parts", min=1, help="Parts for an article without headings."),
    locale: str | None = typer.Option(None, "--locale", help="Language of the emails, e.g. en or fr-CA."),
) -> None:
    """Create a draft campaign from an article: split, render and store every email."""
    start_date = None
    if start:
        try:
            start_date = date.fromisoformat(start)
        except ValueError:
            fail(f"--start: expected a date like 2026-02-03, got {start!r}")
    options = lifecycle.CampaignOptions(
        name=name,
        list_slug=list_slug,
        start=start_date,
        weekday=weekday,
        hour=hour,
        timezone=timezone,
        mode=mode,
        donation_url=donation_url,
        donation_text=donation_text,
        engine=engine,
        template=template,
        parts=parts,
        locale=locale,
    )
    try:
        article = read_article_file(file)
        notices = split_article(article, parts=parts).notices  # the same plan create makes
    except lifecycle.USER_ERRORS as exc:
        fail(str(exc))
    with _session() as (ctx, session):
        image_notes: list[str] = []
        campaign = lifecycle.create_campaign(
            session, ctx.settings, article, options, ctx.clock.now(), notices=image_notes
        )
        session.commit()
        console.print(f"read {file} as {article.reader_name}", highlight=False, markup=False)
        for notice in (*notices, *image_notes):
            console.print(f"note: {notice}", highlight=False, markup=False)
        console.print(
            f"created campaign [bold]{campaign.slug}[/] \u201c{campaign.public_title}\u201d "
            f"with {len(campaign.emails)} emails "
            f"({campaign.mode}, {lifecycle.WEEKDAYS[campaign.send_weekday]} {campaign.send_hour}:00 "
            f"{campaign.timezone})",
            highlight=False,
        )
        if not campaign.donation_url:
            console.print("note: no donation URL, so the emails have no donation button (--donation-url)")


@app.command(name="list")
def list_() -> None:
    """List campaigns."""
    with _session() as (_ctx, session):
        grid = Grid("Campaigns", ["Slug", "Title", "Mode", "Status", "Emails", "Start"], key=2, right={4})
        for c in lifecycle.list_campaigns(session):
            start = c.start_date.isoformat() if c.start_date else "-"
            grid.add(c.slug, c.title, c.mode, c.status, str(len(c.emails)), start)
        print_grid(console, grid)


def _describe(campaign: Campaign) -> None:
    console.print(f"[bold]{campaign.title}[/] ({campaign.slug}) - {campaign.status}", highlight=False)
    console.print(
        f"mode {campaign.mode}, every {campaign.cadence_days} days, "
        f"{lifecycle.WEEKDAYS[campaign.send_weekday]} {campaign.send_hour}:00 {campaign.timezone}, "
        f"start {campaign.start_date or 'not set'}; engine {campaign.render_engine}, "
        f"template {campaign.template or 'default'}; donation {campaign.donation_url or 'none'}",
        highlight=False,
    )
    grid = Grid("", ["#", "Subject", "Preheader", "Words", "Links", "HTML KB"], key=2, right={0, 3, 4, 5})
    for e in campaign.emails:
        size = f"{len(e.compiled_html.encode()) / 1024:.1f}"
        grid.add(str(e.position), e.subject, e.preheader, str(e.word_count), str(len(e.links)), size)
    print_grid(console, grid)


@app.command()
def show(name: str = typer.Argument(..., help="Campaign name or slug.")) -> None:
    """Show a campaign's settings and emails."""
    with _session() as (_ctx, session):
        _describe(lifecycle.get_campaign(session, name))


@app.command()
def edit(
    name: str = typer.Argument(..., help="Campaign name or slug."),
    position: int = typer.Option(..., "--position", min=1, help="Email number (1 = first)."),
    subject: str | None = typer.Option(None, "--subject", help="New subject line."),
    preheader: str | None = typer.Option(None, "--preheader", help="New preheader."),
) -> None:
    """Change an email's subject or preheader (the email is recompiled)."""
    if subject is None and preheader is None:
        fail("nothing to change: give --subject and/or --preheader")
    with _session() as (ctx, session):
        campaign = lifecycle.get_campaign(session, name)
        email = lifecycle.edit_email(
            session,
            ctx.settings,
            campaign,
            position,
            subject=subject,
            preheader=preheader,
            now=ctx.clock.now(),
        )
        session.commit()
        console.print(f"email {email.position}: {email.subject!r} / {email.preheader!r}", highlight=False)


@app.command()
def delete(name: str = typer.Argument(..., help="Campaign name or slug.")) -> None:
    """Delete a campaign (refused once anything was queued or sent)."""
    with _session() as (_ctx, session):
        campaign = lifecycle.get_campaign(session, name)
        slug = campaign.slug
        lifecycle.delete_campaign(session, campaign)
        session.commit()
        console.print(f"deleted campaign {slug}", highlight=False)


def _eml_builder(ctx: AppContext) -> EmlBuilder:
    """The ``.eml`` builder for previews (MIME is built by the delivery package)."""
    sender = ctx.sender()
    return lambda email: preview_eml(ctx, sender, email.id, name=SAMPLE_NAME)


@app.command()
def preview(
    name: str = typer.Argument(..., help="Campaign name or slug."),
    out: Path | None = typer.Option(None, "--out", help="Output directory (default out/<slug>)."),
) -> None:
    """Write each email as HTML, text and .eml with sample values."""
    with _session(secret=True) as (ctx, session):
        campaign = lifecycle.get_campaign(session, name)
        target = out or Path("out") / campaign.slug
        try:
            paths = write_preview(campaign, ctx.settings, target)
        except OSError as exc:
            fail(f"{target}: cannot write preview ({exc.strerror or exc})", EXIT_FAILURE)
        try:
            paths += write_eml_preview(campaign, target, _eml_builder(ctx))
        except (OSError, ValueError) as exc:
            for path in paths:
                console.print(str(path), highlight=False)
            fail(f".eml preview not written: {exc}", EXIT_FAILURE)
        for path in paths:
            console.print(str(path), highlight=False)


app.command()(campaign_send.schedule)
app.command()(campaign_send.pause)
app.command()(campaign_send.resume)
app.command()(campaign_send.status)
app.command(name="test-send")(campaign_send.test_send)
app.command(name="subject-test")(campaign_tuning.subject_test)
app.command(name="subject-test-show")(campaign_tuning.subject_test_show)
app.command(name="subject-test-stop")(campaign_tuning.subject_test_stop)
app.command(name="resend")(campaign_tuning.resend_command)
app.command(name="archive")(campaign_archive.archive_command)
