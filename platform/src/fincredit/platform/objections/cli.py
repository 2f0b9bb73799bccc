"""``fincredit objections …``: the operator's view of objections and their deadlines (R§10)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from fincredit.platform.core.cli_support import cli_services as _services
from fincredit.platform.core.cli_support import console

objections_app = typer.Typer(help="Objections to credit records (R§10).", no_args_is_help=True)


@objections_app.command("list")
def objections_list(
    overdue: Annotated[bool, typer.Option(help="only open objections past their deadline")] = False,
    status: Annotated[
        str | None, typer.Option(help="platform_review, provider_review, corrected, confirmed")
    ] = None,
) -> None:
    """Objections with the deadline now running (Beijing calendar days)."""
    from fincredit.platform.objections import list_objections

    services = _services()
    table = Table("id", "record", "provider", "item", "status", "filed", "deadline", "overdue")
    now = dt.datetime.now(dt.UTC)
    with services.read() as session:
        for o in list_objections(session, status=status, overdue_only=overdue, at=now):
            table.add_row(
                str(o.id),
                str(o.record_id),
                o.provider_org_id,
                o.item_code,
                o.status,
                o.filed_at.date().isoformat(),
                o.current_deadline.isoformat() if o.current_deadline else "—",
                "[red]yes[/red]" if o.overdue else "no",
            )
    console.print(table)


@objections_app.command("sweep")
def objections_sweep() -> None:
    """Write a deadline_missed step into the trail of every open objection past its deadline (daily)."""
    from fincredit.platform.objections import record_missed_deadlines

    services = _services()
    with services.tx() as session:
        marked = record_missed_deadlines(session)
    for o in marked:
        console.print(f"objection {o.id}: {o.status} was due {o.current_deadline}")
    console.print(f"{len(marked)} missed deadline(s) recorded")
