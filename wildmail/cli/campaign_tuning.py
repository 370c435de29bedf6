"""``wildmail campaign subject-test|subject-test-show|subject-test-stop|resend``: subject tests
and resends to non-openers (added to the ``campaign`` group by :mod:`wildmail.cli.campaign`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.orm import Session

from delivery import lifecycle
from optimise import resend, subject_tests
from optimise.errors import OptimiseError
from optimise.figures import campaign_tuning, resend_lines, subject_test_lines
from wildmail.cli.common import console, context, fail
from wildmail.core.db import write_session
from wildmail.runtime.context import AppContext

_MISTAKES: tuple[type[ValueError], ...] = (OptimiseError, *lifecycle.USER_ERRORS)


@contextmanager
def _session() -> Iterator[tuple[AppContext, Session]]:
    ctx = context(secret=True)
    try:
        with write_session(ctx.engine) as session:
            try:
                yield ctx, session
            except _MISTAKES as exc:
                session.rollback()
                fail(str(exc))
    finally:
        ctx.close()


def subject_test(
    name: str = typer.Argument(..., help="Campaign name or slug."),
    email: int = typer.Option(..., "--email", min=1, help="Email number (1 = first)."),
    variant: list[str] = typer.Option(..., "--variant", help="'subject|preheader' (2 to 4 of them)."),
    criterion: str = typer.Option(
        "human_opens", "--criterion", help="human_opens, human_clicks or donation_clicks."
    ),
    confidence: float = typer.Option(0.95, "--confidence", help="How sure the winner must be (0.5-1)."),
    max_sample: int = typer.Option(
        2000, "--max-sample", help="Trials of all variants before 'no clear winner'."
    ),
) -> None:
    """Start a subject (and preheader) test on one email: new deliveries get a variant at random
    until one is better with the chosen confidence; then everyone gets the winner."""
    with _session() as (ctx, session):
        campaign = lifecycle.get_campaign(session, name)
        pairs = [subject_tests.parse_variant(v) for v in variant]
        subject_tests.start_test(
            session,
            ctx.settings,
            campaign,
            email,
            pairs,
            criterion=criterion,
            confidence=confidence,
            max_sample=max_sample,
            now=ctx.clock.now(),
        )
        session.commit()
        console.print(f"subject test started on email {email} of {campaign.slug} with {len(pairs)} variants")


def subject_test_show(name: str = typer.Argument(..., help="Campaign name or slug.")) -> None:
    """The campaign's subject tests and resends, with the figures per variant."""
    with _session() as (ctx, session):
        campaign = lifecycle.get_campaign(session, name)
        tuning = campaign_tuning(ctx, campaign.id)
        if not tuning.tests and not tuning.resends:
            console.print(f"{campaign.slug} has no subject test and no resend")
        for test in tuning.tests:
            for line in subject_test_lines(test):
                console.print(line, highlight=False, soft_wrap=True)
        for rule in tuning.resends:
            for line in resend_lines(rule):
                console.print(line, highlight=False, soft_wrap=True)


def subject_test_stop(
    name: str = typer.Argument(..., help="Campaign name or slug."),
    email: int = typer.Option(..., "--email", min=1, help="Email number (1 = first)."),
    winner: int | None = typer.Option(None, "--winner", min=1, help="Variant to keep (default: the first)."),
) -> None:
    """End a running subject test by hand; its variant ``--winner`` (or the first) goes to everyone."""
    with _session() as (ctx, session):
        campaign = lifecycle.get_campaign(session, name)
        subject_tests.stop_test(session, campaign, email, ctx.clock.now(), winner)
        session.commit()
        console.print(f"subject test of email {email} stopped: variant {winner or 1} from now on")


def resend_command(
    name: str = typer.Argument(..., help="Campaign name or slug."),
    email: int = typer.Option(..., "--email", min=1, help="Email number (1 = first)."),
    variant: str | None = typer.Option(None, "--variant", help="The resend's 'subject|preheader'."),
    after_days: int = typer.Option(3, "--after-days", help="Days after the email."),
    include_unknown: bool = typer.Option(
        False, "--include-unknown", help="Also resend to people with machine opens only."
    ),
    off: bool = typer.Option(False, "--off", help="Stop resending this email."),
) -> None:
    """Send an email once more, after N days and with another subject, to recipients with no
    human open and no human click (machine-only openers are 'unknown' and left out by default)."""
    with _session() as (ctx, session):
        campaign = lifecycle.get_campaign(session, name)
        if off:
            resend.remove_resend(session, campaign, email)
            session.commit()
            console.print(f"no more resends of email {email} of {campaign.slug}")
            return
        if variant is None:
            fail("give --variant 'subject|preheader' (or --off)")
        resend.set_resend(
            session,
            ctx.settings,
            campaign,
            email,
            variant,
            after_days=after_days,
            include_unknown=include_unknown,
            now=ctx.clock.now(),
        )
        session.commit()
        who = "non-openers and machine-only openers" if include_unknown else "non-openers"
        console.print(f"email {email} of {campaign.slug} goes again to its {who} after {after_days} days")
