"""`gridgov audit …`: verify the chain, print the head for filing, list entries. Reads only."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from gridgov.audit import service
from gridgov.core.clock import CHINA_TZ
from gridgov.core.errors import GridgovError

app = typer.Typer(help="The audit trail.", no_args_is_help=True)


def _fail(exc: GridgovError) -> typer.Exit:
    typer.echo(f"error ({exc.code}): {exc.message}", err=True)
    return typer.Exit(1)


@app.command()
def verify(
    expect: Annotated[
        str | None,
        typer.Option(
            help="A head filed earlier, as ID:HASH (from `gridgov audit head`): it must still be there"
        ),
    ] = None,
) -> None:
    """Recompute every hash and link; exit 1 naming the first broken entry."""
    from gridgov.core.db import session_scope

    try:
        expected = service.parse_filed_head(expect)
        with session_scope() as session:
            result = service.verify(session, expected=expected)
    except GridgovError as exc:
        raise _fail(exc) from exc
    typer.echo(result.summary)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def head(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Print the newest entry's id and hash, to file outside the database (a ticket, a signed mail).

    An attacker who can rewrite the database can recompute every hash in it; they cannot change a
    copy kept elsewhere. `gridgov audit verify --expect ID:HASH` later checks the chain still has it.
    """
    from gridgov.core.db import session_scope

    with session_scope() as session:
        info = service.head_info(session)
    if as_json:
        typer.echo(info.model_dump_json())
        return
    when = info.occurred_at.astimezone(CHINA_TZ).isoformat(timespec="seconds") if info.occurred_at else "-"
    typer.echo(f"{info.last_id}:{info.last_hash}")
    typer.echo(
        f"audit head: entry {info.last_id} at {when}; file this line with the date you read it", err=True
    )


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option(min=1, max=service.MAX_PAGE, help="How many entries")] = 20,
    actor: Annotated[str | None, typer.Option(help="Exact actor")] = None,
    action: Annotated[str | None, typer.Option(help="Exact action, or a prefix ending in * (auth.*)")] = None,
    object_type: Annotated[str | None, typer.Option(help="Object type (table name for record.*)")] = None,
    object_id: Annotated[str | None, typer.Option(help="Object id")] = None,
    before_id: Annotated[int | None, typer.Option(min=1, help="Only entries older than this id")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (one array)")] = False,
) -> None:
    """The newest entries first."""
    from gridgov.core.db import session_scope

    try:
        with session_scope() as session:
            page = service.list_entries(
                session,
                actor=actor,
                action=action,
                object_type=object_type,
                object_id=object_id,
                limit=limit,
                before_id=before_id,
            )
    except GridgovError as exc:
        raise _fail(exc) from exc
    if as_json:
        typer.echo(
            json.dumps([e.model_dump(mode="json") for e in page.entries], ensure_ascii=False, indent=2)
        )
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table("id", "time (UTC+8)", "actor", "action", "object", "details", "hash")
    for entry in page.entries:
        obj = entry.object_type + (f" {entry.object_id}" if entry.object_id else "")
        details = json.dumps(entry.details, ensure_ascii=False, sort_keys=True) if entry.details else ""
        if entry.reason:
            details = f"reason: {entry.reason}  {details}".strip()
        cells = [
            str(entry.id),
            entry.occurred_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S"),
            entry.actor + (f" ({entry.actor_role})" if entry.actor_role else ""),
            entry.action,
            obj,
            details,
            entry.entry_hash[:12],
        ]
        # Text, not markup: a reason or actor containing "[...]" must print as typed.
        table.add_row(*(Text(cell) for cell in cells))
    Console().print(table)
    if page.next_before_id is not None:
        typer.echo(f"older entries: --before-id {page.next_before_id}")
