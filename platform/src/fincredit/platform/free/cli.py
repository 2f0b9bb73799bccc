"""``fincredit push deliver``: one-shot drain of the information push outbox."""

from __future__ import annotations

import typer

from fincredit.platform.core.cli_support import cli_services as _services
from fincredit.platform.core.cli_support import console

push_app = typer.Typer(help="Information push (post-loan monitoring webhooks).", no_args_is_help=True)


@push_app.command("deliver")
def push_deliver() -> None:
    """One-shot drain of the push outbox: objection notices in, consent gate, due webhooks out."""
    from fincredit.platform.free import drain

    services = _services()
    try:
        stats = drain(services)
        console.print(f"{stats.attempted} attempted, {stats.delivered} delivered, {stats.failed} to retry")
    finally:
        services.close()
