"""``wildmail users``: dashboard accounts (add, list, remove, set-password, set-role, revoke-sessions)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from wildmail.cli.common import console, context, fail
from wildmail.cli.tables import Grid, print_grid
from wildmail.core.db import write_transaction
from wildmail.runtime.users import (
    UserError,
    add_user,
    list_users,
    parse_role,
    remove_user,
    revoke_user_sessions,
    set_password,
    set_role,
)

app = typer.Typer(
    help="Dashboard accounts: add, list, remove, set-password, set-role, revoke-sessions.",
    no_args_is_help=True,
)

StdinOption = Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@app.command("add")
def add(
    email: Annotated[str, typer.Argument(help="The person's email address (their login).")],
    role: Annotated[str, typer.Option("--role", help="marketer, staff or admin.")] = "staff",
    password_stdin: StdinOption = False,
) -> None:
    """Create a dashboard account (the password is prompted for, or read with --password-stdin)."""
    try:
        parse_role(role)
    except UserError as exc:
        fail(str(exc))
    password = _password(password_stdin)
    ctx = context()
    try:
        with write_transaction(ctx.engine) as s:
            user = add_user(s, email, role, password, ctx.clock.now())
            console.print(f"added {user.email} ({user.role})")
    except UserError as exc:
        fail(str(exc))
    finally:
        ctx.close()


@app.command("list")
def list_() -> None:
    """Show every account with its role and last login."""
    ctx = context()
    try:
        with ctx.session() as s:
            users = list_users(s)
        if not users:
            console.print("No users yet: add one with 'wildmail users add EMAIL --role admin'.")
            return
        grid = Grid("Dashboard users", ["Email", "Role", "Created", "Last login"])
        for u in users:
            last = u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "never"
            grid.add(u.email, u.role, u.created_at.strftime("%Y-%m-%d"), last)
        print_grid(console, grid)
    finally:
        ctx.close()


@app.command("remove")
def remove(email: Annotated[str, typer.Argument(help="The account's email address.")]) -> None:
    """Delete an account."""
    ctx = context()
    try:
        with write_transaction(ctx.engine) as s:
            remove_user(s, email)
        console.print(f"removed {email}")
    except UserError as exc:
        fail(str(exc))
    finally:
        ctx.close()


@app.command("set-password")
def set_password_(
    email: Annotated[str, typer.Argument(help="The account's email address.")],
    password_stdin: StdinOption = False,
) -> None:
    """Replace an account's password (its dashboard sessions end)."""
    password = _password(password_stdin)
    ctx = context()
    try:
        with write_transaction(ctx.engine) as s:
            ended = set_password(s, email, password, ctx.clock.now())
        console.print(f"password changed for {email}; {_sessions(ended)} ended")
    except UserError as exc:
        fail(str(exc))
    finally:
        ctx.close()


@app.command("set-role")
def set_role_(
    email: Annotated[str, typer.Argument(help="The account's email address.")],
    role: Annotated[str, typer.Argument(help="marketer, staff or admin.")],
) -> None:
    """Change an account's role (its dashboard sessions end; the next login has the new role)."""
    ctx = context()
    try:
        with write_transaction(ctx.engine) as s:
            ended = set_role(s, email, role, ctx.clock.now())
        console.print(f"{email} is now {parse_role(role).value}; {_sessions(ended)} ended")
    except UserError as exc:
        fail(str(exc))
    finally:
        ctx.close()


@app.command("revoke-sessions")
def revoke_sessions_(email: Annotated[str, typer.Argument(help="The account's email address.")]) -> None:
    """Log an account out everywhere: every dashboard session of it ends now."""
    ctx = context()
    try:
        with write_transaction(ctx.engine) as s:
            ended = revoke_user_sessions(s, email, ctx.clock.now())
        console.print(f"{_sessions(ended)} of {email} ended")
    except UserError as exc:
        fail(str(exc))
    finally:
        ctx.close()


def _sessions(n: int) -> str:
    return f"{n} session{'' if n == 1 else 's'}"
