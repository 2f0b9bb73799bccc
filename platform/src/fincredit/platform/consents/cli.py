"""``fincredit consents …``: expiry, checkpoints and export of the consent ledger from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fincredit.platform.core.cli_support import cli_services as _services
from fincredit.platform.core.cli_support import console

consents_app = typer.Typer(help="Consents and the consent ledger.", no_args_is_help=True)


@consents_app.command("expire")
def consents_expire() -> None:
    """Expire every ACTIVE or PAUSED consent past its end (each ledgered); run it periodically."""
    from fincredit.platform.consents import expire_due

    services = _services()
    try:
        console.print(f"{expire_due(services)} consent(s) expired")
    finally:
        services.close()


@consents_app.command("checkpoint")
def consents_checkpoint() -> None:
    """Sign a checkpoint of the ledger at its current size (if new entries arrived) and print it."""
    from fincredit.platform.consents import latest_checkpoint

    services = _services()
    try:
        typer.echo(latest_checkpoint(services).note, nl=False)
    finally:
        services.close()


@consents_app.command("export")
def consents_export(
    path: Annotated[Path, typer.Argument(help="where to write: .parquet, or JSON lines for any other name")],
    size: Annotated[int | None, typer.Option(min=0, help="entries 0..size-1 (default: all)")] = None,
) -> None:
    """Export the ledger's entries for `fincredit-consent verify` (e.g. after restoring a backup)."""
    from fincredit.platform.consents import export_ledger

    services = _services()
    try:
        console.print(f"{export_ledger(services, path, size=size)} entries written to {path}")
    finally:
        services.close()


@consents_app.command("self-check")
def consents_self_check() -> None:
    """Replay the ledger (from where the last run stopped) and compare the consents table with the state
    the log implies; exit status 1 if an access is not authorised by the log or the table has drifted."""
    from fincredit.platform.consents import run_self_check

    services = _services()
    try:
        result = run_self_check(services)
    finally:
        services.close()
    for line in result.lines():
        typer.echo(line)
    typer.echo(
        f"{result.replayed} new entries replayed in {result.seconds:.2f} s (ledger size {result.size})"
    )
    if not result.ok:
        raise typer.Exit(1)
