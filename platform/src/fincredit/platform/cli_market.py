"""``fincredit market …`` and ``fincredit objections …``: the operator's view of contracts, of what a
purpose may use, and of objections past their deadline."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

market_app = typer.Typer(help="Market data contracts and datasets (G§9, G§16).", no_args_is_help=True)
objections_app = typer.Typer(help="Objections to credit records (R§10).", no_args_is_help=True)
console = Console()


def _services():  # type: ignore[no-untyped-def]
    from .services import build_services
    from .settings import get_settings

    return build_services(get_settings())


@market_app.command("datasets")
def market_datasets(
    purpose: Annotated[str | None, typer.Option(help="consent-vocabulary purpose; default any")] = None,
) -> None:
    """Every dataset, whether it may be used for PURPOSE now, and why not."""
    from .market import datasets_for_purpose

    services = _services()
    table = Table("dataset", "vendor", "latest version", "allowed", "reason", "contract")
    with services.read() as session:
        for d in datasets_for_purpose(session, purpose, include_refused=True):
            c = d.decision.contract
            table.add_row(
                d.code,
                d.vendor_id,
                str(d.latest_version or "—"),
                "yes" if d.decision.allowed else "no",
                d.decision.reason,
                f"{c.reference} (until {c.expires_on})" if c else "—",
            )
    console.print(table)


@objections_app.command("list")
def objections_list(
    overdue: Annotated[bool, typer.Option(help="only open objections past their deadline")] = False,
    status: Annotated[
        str | None, typer.Option(help="platform_review, provider_review, corrected, confirmed")
    ] = None,
) -> None:
    """Objections with the deadline now running (Beijing calendar days)."""
    from .objections import list_objections

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
    from .objections import record_missed_deadlines

    services = _services()
    with services.tx() as session:
        marked = record_missed_deadlines(session)
    for o in marked:
        console.print(f"objection {o.id}: {o.status} was due {o.current_deadline}")
    console.print(f"{len(marked)} missed deadline(s) recorded")
