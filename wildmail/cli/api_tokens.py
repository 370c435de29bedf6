"""``wildmail api-tokens``: REST API tokens (add, list, revoke). A token is printed once, at ``add``."""

from __future__ import annotations

from typing import Annotated

import typer

from wildmail.cli.common import console, context, err_console, fail
from wildmail.cli.tables import Grid, print_grid
from wildmail.core.db import write_transaction
from wildmail.runtime.api_tokens import (
    ALL_SCOPES,
    TokenError,
    create_token,
    list_tokens,
    parse_scopes,
    revoke_token,
)

app = typer.Typer(help="REST API tokens: add, list, revoke.", no_args_is_help=True)


@app.command("add")
def add(
    name: Annotated[str, typer.Option("--name", help="What uses the token, e.g. crm.")],
    scope: Annotated[
        str,
        typer.Option("--scope", help=f"Comma-separated resource:read|write; known: {', '.join(ALL_SCOPES)}."),
    ],
) -> None:
    """Make a token and print it once (only its hash is stored: copy it now)."""
    try:
        parse_scopes(scope)
    except TokenError as exc:
        fail(str(exc))
    ctx = context()
    try:
        with write_transaction(ctx.engine) as s:
            token, text = create_token(s, name, scope, ctx.clock.now())
            public_id, scopes = token.public_id, token.scopes
    except TokenError as exc:
        fail(str(exc))
    finally:
        ctx.close()
    err_console.print(f"token {public_id} for {name!r} with {scopes.replace(',', ', ')}; shown only now:")
    typer.echo(text)


@app.command("list")
def list_() -> None:
    """Every token: id, name, scopes, created, last used, revoked (never the secret)."""
    ctx = context()
    try:
        with ctx.session() as s:
            tokens = list_tokens(s)
    finally:
        ctx.close()
    if not tokens:
        console.print(
            "No API tokens yet: add one with 'wildmail api-tokens add --name NAME --scope stats:read'."
        )
        return
    grid = Grid("API tokens", ["Id", "Name", "Scopes", "Created", "Last used", "Revoked"])
    for t in tokens:
        grid.add(
            t.public_id,
            t.name,
            t.scopes.replace(",", ", "),
            t.created_at.strftime("%Y-%m-%d %H:%M"),
            t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "never",
            t.revoked_at.strftime("%Y-%m-%d %H:%M") if t.revoked_at else "",
        )
    print_grid(console, grid)


@app.command("revoke")
def revoke(which: Annotated[str, typer.Argument(help="The token's name or id (see 'list').")]) -> None:
    """Revoke a token: requests with it are refused (401) from now on."""
    ctx = context()
    try:
        with write_transaction(ctx.engine) as s:
            token = revoke_token(s, which, ctx.clock.now())
            console.print(f"revoked token {token.public_id} ({token.name})")
    except TokenError as exc:
        fail(str(exc))
    finally:
        ctx.close()
