"""``wildmail campaign archive``: turn a campaign's public web archive on or off."""

from __future__ import annotations

import typer

from delivery import archive, lifecycle
from wildmail.cli.common import console, context, fail
from wildmail.core.db import write_transaction


def archive_command(
    name: str = typer.Argument(..., help="Campaign name or slug."),
    on: bool = typer.Option(..., "--on/--off", help="Publish the archive at /archive/<slug>/ or hide it."),
    all_emails: bool | None = typer.Option(
        None, "--all/--sent-only", help="List every email, or only those already sent (the default)."
    ),
) -> None:
    """Publish a campaign's web archive (its page, emails and RSS feed) or make it private again."""
    ctx = context()
    try:
        with write_transaction(ctx.engine) as session:
            campaign = archive.set_archive(session, name, on, all_emails)
            slug, every = campaign.slug, campaign.archive_all_emails
    except lifecycle.CampaignNotFound as exc:
        fail(str(exc))
    finally:
        ctx.close()
    if on:
        which = "every email" if every else "the emails already sent"
        url = f"{ctx.settings.base_url.rstrip('/')}/archive/{slug}/"
        console.print(f"archive of {slug} is public at {url} ({which}; feed: {url}feed.xml)", highlight=False)
    else:
        console.print(f"archive of {slug} is private (its pages answer 404)", highlight=False)
