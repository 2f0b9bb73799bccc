"""``fincredit market …``: the operator's view of contracts and of what a purpose may use."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from fincredit.platform.core.cli_support import cli_services as _services
from fincredit.platform.core.cli_support import console

market_app = typer.Typer(help="Market data contracts and datasets (G§9, G§16).", no_args_is_help=True)


@market_app.command("datasets")
def market_datasets(
    purpose: Annotated[str | None, typer.Option(help="consent-vocabulary purpose; default any")] = None,
) -> None:
    """Every dataset, whether it may be used for PURPOSE now, and why not."""
    from fincredit.platform.market import datasets_for_purpose

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
