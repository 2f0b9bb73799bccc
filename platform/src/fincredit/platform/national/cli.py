"""``fincredit national deliver`` runs the outbox to the provincial node once (G§12)."""

from __future__ import annotations

import typer

from fincredit.platform.core.cli_support import console
from fincredit.platform.core.settings import get_settings

national_app = typer.Typer(help="Reporting to the provincial node (G§12).", no_args_is_help=True)


@national_app.command("deliver")
def national_deliver() -> None:
    """Queue every granted loan not yet reported, then send what is due to the configured node."""
    from fincredit.platform.core.services import build_services
    from fincredit.platform.national import deliver_due, endpoint, enqueue_granted

    services = build_services(get_settings())
    try:
        with services.tx() as session:
            queued = enqueue_granted(session, services)
        run = deliver_due(services)
        console.print(
            f"{queued} queued; {run.delivered} delivered, {run.failed} to retry (node: {endpoint(services)})"
        )
    finally:
        services.close()
