"""``wildmail subscribers``: lists, add, import/export, show, export-person, forget, unsubscribe,
unsuppress."""

from __future__ import annotations

import codecs
import sys
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy.orm import Session

from subscribers import lifecycle, optin, privacy
from subscribers.addresses import InvalidValue
from subscribers.csv_import import ImportFileError, ImportReport, import_csv
from subscribers.lifecycle import UnknownList
from subscribers.models import ConsentSource, Subscriber
from subscribers.queries import consent_history, inactive_counts, lists_with_counts
from wildmail.cli.common import EXIT_FAILURE, console, context, err_console, fail
from wildmail.cli.tables import Grid, print_grid
from wildmail.runtime.mailer import MailError, send_one

app = typer.Typer(help="Subscribers: lists, add, import, export, show, forget.", no_args_is_help=True)
ListOpt = Annotated[str, typer.Option("--list", "-l", help="List slug.")]


def _subscriber(session: Session, email: str) -> Subscriber:
    sub = lifecycle.find_subscriber(session, email)
    if sub is None:
        fail(f"no subscriber with address {email!r}")
    return sub


@app.command("lists")
def lists() -> None:
    """Show every list with its opt-in mode, member count and members sunset (inactive)."""
    ctx = context()
    with ctx.session() as session:
        grid = Grid(
            "", ["slug", "name", "opt-in", "members", "inactive", "cap (days)", "sunset"], right={3, 4, 5}
        )
        inactive = inactive_counts(session)
        for lst, members in lists_with_counts(session, order_by="slug"):
            optin = "double" if lst.double_opt_in else "single"
            cap = str(lst.frequency_cap_days or "none")
            sunset = f"after {lst.sunset_after}" if lst.sunset_after else "off"
            grid.add(lst.slug, lst.name, optin, str(members), str(inactive.get(lst.id, 0)), cap, sunset)
    print_grid(console, grid)


@app.command("list-create")
def list_create(
    slug: str,
    name: Annotated[str, typer.Option(help="Display name (default: the slug in words).")] = "",
    single_opt_in: Annotated[bool, typer.Option(help="Activate form sign-ups without confirmation.")] = False,
    description: Annotated[
        str, typer.Option(help="What subscribers will receive, shown on the public pages.")
    ] = "",
    frequency_cap_days: Annotated[
        int,
        typer.Option(
            "--frequency-cap-days",
            help="At most one email per this many days to a member from all series together (0: none).",
        ),
    ] = 7,
) -> None:
    """Create a list (double opt-in unless --single-opt-in)."""
    ctx = context()
    with ctx.write() as session:
        try:
            lifecycle.create_list(
                session, slug, name or None, double_opt_in=not single_opt_in, at=ctx.clock.now(),
                description=description, frequency_cap_days=frequency_cap_days,
            )  # fmt: skip
        except InvalidValue as exc:
            fail(str(exc))
    console.print(f"created list {slug} ({'single' if single_opt_in else 'double'} opt-in)")


@app.command("add")
def add(
    email: str,
    list_slug: ListOpt,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    timezone: Annotated[str, typer.Option(help="IANA time zone, e.g. Europe/Berlin.")] = "",
    locale: Annotated[str, typer.Option(help="Language tag, e.g. en or pt-BR.")] = "",
) -> None:
    """Subscribe an address; double opt-in lists get a confirmation email (sent through SMTP)."""
    ctx = context(secret=True)  # wires the hook that enrols an activated subscriber
    try:
        with ctx.write() as session:
            lst = lifecycle.require_list(session, list_slug)
            result = optin.subscribe(
                session, ctx.settings, lst, email, ctx.clock.now(), lambda m: send_one(ctx.settings, m),
                name=name, timezone=timezone or None, locale=locale or None, source=ConsentSource.ADMIN,
            )  # fmt: skip
            address, outcome = result.subscriber.email, result.outcome
    except (InvalidValue, UnknownList) as exc:
        fail(str(exc))
    except MailError as exc:
        fail(f"{exc} (nothing was saved)", EXIT_FAILURE)
    messages = {
        optin.Outcome.CONFIRMATION_SENT: f"confirmation email sent to {address}",
        optin.Outcome.CONFIRMATION_RECENT: f"a confirmation went to {address} moments ago; not sent again",
        optin.Outcome.ACTIVATED: f"{address} is now an active member of {list_slug}",
        optin.Outcome.ALREADY_ACTIVE: f"{address} is already an active member of {list_slug}",
    }
    console.print(messages[outcome])


@app.command("confirm-link")
def confirm_link(email: str, list_slug: ListOpt) -> None:
    """Print a fresh confirmation link for a subscriber (to pass on by hand)."""
    ctx = context(secret=True)
    with ctx.session() as session:
        try:
            lst = lifecycle.require_list(session, list_slug)
        except UnknownList as exc:
            fail(str(exc))
        sub = _subscriber(session, email)
        console.print(optin.confirmation_url(ctx.settings, sub.id, lst.id, ctx.clock.now()), soft_wrap=True)


def _print_report(report: ImportReport, rejects: Path | None) -> None:
    verb = "would be" if report.dry_run else "were"
    warned = f", {report.warned} imported with a warning" if report.warned else ""
    console.print(
        f"{report.rows} rows read in {report.seconds:.1f} s ({report.rows_per_second:,.0f} rows/s): "
        f"{report.created} new, {report.updated} updated, {report.activated} activated, "
        f"{report.joined} added to the list, {report.unchanged} unchanged, "
        f"{report.suppressed} skipped as unsubscribed/suppressed, {report.rejected} rejected "
        f"({report.duplicates} duplicates){warned} — changes {verb} {'not ' if report.dry_run else ''}saved"
    )
    notes = sorted(
        [(r.line, r.reason) for r in report.rejects]
        + [(w.line, f"warning: {w.reason}") for w in report.warnings]
    )
    for line, reason in notes[:20]:
        err_console.print(f"  line {line}: {reason}", highlight=False, soft_wrap=True)
    if report.rejected + report.warned > 20:
        err_console.print(f"  ... and {report.rejected + report.warned - 20} more", highlight=False)
    if rejects is not None and report.rejected + report.warned:
        console.print(
            f"rejected rows (and rows with warnings) written to {rejects}", highlight=False, soft_wrap=True
        )


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="The CSV file, or - for standard input.")],
    list_slug: ListOpt,
    status: Annotated[str, typer.Option(help="Status of new subscribers: active or pending.")] = "active",
    dry_run: Annotated[bool, typer.Option(help="Check and count, change nothing.")] = False,
    rejects: Annotated[
        Path | None,
        typer.Option(
            help="Write rejected rows and rows with warnings (with reasons) to this CSV "
            "[default: NAME.rejects.csv beside the input, when there are any]."
        ),
    ] = None,
    no_rejects: Annotated[bool, typer.Option("--no-rejects", help="Write no rejects file.")] = False,
    encoding: Annotated[
        str,
        typer.Option(help="The file's text encoding, e.g. latin-1 or cp1252 for older spreadsheet exports."),
    ] = "utf-8",
) -> None:
    """Import subscribers from a CSV with a header (email, name, timezone, locale, other -> attributes).

    Exit code 2 when no row could be imported; rows that could are kept and the rest reported.
    """
    if status not in ("active", "pending"):
        fail(f"--status must be active or pending, not {status!r}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        fail(f"--encoding: unknown encoding {encoding!r} (try utf-8, latin-1 or cp1252)")
    ctx = context()
    source: Path | BinaryIO = sys.stdin.buffer if str(file) == "-" else file
    beside = rejects is None and not no_rejects and source is file and file.is_file()
    if beside:
        rejects = file.with_name(f"{file.name.removesuffix('.csv')}.rejects.csv")
    out = None
    try:
        out = rejects.open("w", encoding="utf-8", newline="") if rejects is not None else None
    except OSError as exc:
        fail(f"{rejects}: cannot write ({exc.strerror})")
    try:
        with Progress(
            TextColumn("importing"), BarColumn(), TextColumn("{task.fields[rows]:>9,} rows"),
            TimeRemainingColumn(), console=err_console, transient=True, disable=not sys.stderr.isatty(),
        ) as bar:  # fmt: skip
            task = bar.add_task("import", total=None, rows=0)

            def progress(rows: int, done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total, rows=rows)

            report = import_csv(
                ctx.engine, source, list_slug, status=status, dry_run=dry_run, progress=progress,
                rejects=out, at=ctx.clock.now(), encoding=encoding,
            )  # fmt: skip
    except (ImportFileError, UnknownList) as exc:
        fail(str(exc))
    finally:
        if out is not None:
            out.close()
    if beside and rejects is not None and not report.rejected + report.warned:
        rejects.unlink(missing_ok=True)  # nothing to report: no empty (or stale) rejects file beside it
        rejects = None
    _print_report(report, rejects)
    if report.valid == 0:
        name = "standard input" if source is not file else str(file)
        what = f"all {report.rows} rows were rejected" if report.rows else "it has a header but no rows"
        fail(f"nothing {'would be ' if dry_run else ''}imported from {name}: {what}")


@app.command("export")
def export(
    list_slug: Annotated[str | None, typer.Option("--list", "-l", help="Only members of this list.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File (default: stdout).")] = None,
) -> None:
    """Export subscribers as CSV (one column per attribute)."""
    ctx = context()
    with ctx.session() as session:
        if list_slug is not None:
            try:
                lifecycle.require_list(session, list_slug)
            except UnknownList as exc:
                fail(str(exc))
        if output is None:
            privacy.export_csv(session, sys.stdout, list_slug, status)
            return
        with output.open("w", encoding="utf-8", newline="") as out:
            count = privacy.export_csv(session, out, list_slug, status)
    err_console.print(f"{count} subscribers written to {output}")


@app.command("show")
def show(email: str) -> None:
    """Show one subscriber: status, lists, attributes and consent history."""
    ctx = context()
    with ctx.session() as session:
        sub = _subscriber(session, email)
        console.print(f"[bold]{sub.email}[/] {sub.name}  status: {sub.status}", highlight=False)
        console.print(
            f"timezone: {sub.timezone or '(campaign default)'}  locale: {sub.locale}", highlight=False
        )
        console.print(f"lists: {', '.join(lst.slug for lst in sub.lists) or '(none)'}", highlight=False)
        console.print(f"suppressed: {'yes' if lifecycle.is_suppressed(session, sub.email) else 'no'}")
        if sub.paused_until is not None and sub.paused_until > ctx.clock.now():
            console.print(f"paused until {sub.paused_until.isoformat(timespec='minutes')}", highlight=False)
        for key, value in sorted((sub.attributes or {}).items()):
            console.print(f"  {key}: {value}", highlight=False)
        grid = Grid("", ["when", "from", "to", "source"])
        for event in consent_history(session, sub.id):
            grid.add(
                event.at.isoformat(timespec="seconds"),
                event.from_status or "-",
                event.to_status,
                event.source,
            )
        print_grid(console, grid)


@app.command("export-person")
def export_person(
    email: str,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File (default: stdout).")] = None,
) -> None:
    """Everything we hold on one person, as JSON (subject access request)."""
    ctx = context()
    with ctx.session() as session:
        data = privacy.person_json(session, _subscriber(session, email))
    if output is None:
        sys.stdout.write(data + "\n")
    else:
        output.write_text(data + "\n", encoding="utf-8")
        err_console.print(f"written to {output}")


@app.command("forget")
def forget(email: str, yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False) -> None:
    """Erase a person's data; their address stays only as a hashed suppression entry."""
    ctx = context()
    if not yes:
        with ctx.session() as session:
            address = _subscriber(session, email).email
        if not typer.confirm(f"Erase all personal data of {address}?"):
            fail("nothing erased")
    with ctx.write() as session:
        privacy.forget(session, _subscriber(session, email), ctx.clock.now())
    console.print(f"forgotten: {email} (the address stays suppressed)")


@app.command("unsubscribe")
def unsubscribe(email: str) -> None:
    """Unsubscribe an address now (admin action); it is suppressed from every list."""
    ctx = context()
    with ctx.write() as session:
        sub = _subscriber(session, email)
        changed = lifecycle.unsubscribe(session, sub, ConsentSource.ADMIN, ctx.clock.now())
    console.print(f"{email}: {'unsubscribed' if changed else 'was not active; stays suppressed'}")


@app.command("unsuppress")
def unsuppress(
    email: str,
    note: Annotated[str, typer.Option("--note", help="Why (kept in the consent history); required.")] = "",
) -> None:
    """Lift a suppression a bounce put there (e.g. a relay incident); the address is mailed again."""
    ctx = context()
    try:
        with ctx.write() as session:
            sub = lifecycle.lift_bounce(session, email, note, ctx.clock.now(), by="admin (cli)")
            status = sub.status
    except lifecycle.CannotLift as exc:
        fail(str(exc))
    console.print(f"{email}: suppression lifted; status {status}", highlight=False)
