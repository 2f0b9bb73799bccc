"""CLI of the market products and national reporting: ``fincredit products train-score`` registers the
platform's enterprise credit score in MLflow; ``fincredit national deliver`` runs the outbox once."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from .settings import get_settings

products_app = typer.Typer(help="Metered market products (G§14).", no_args_is_help=True)
national_app = typer.Typer(help="Reporting to the provincial node (G§12).", no_args_is_help=True)
console = Console()


@products_app.command("train-score")
def train_score(
    enterprises: Annotated[int, typer.Option(help="synthetic enterprises to train on")] = 5000,
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """Train the enterprise credit score (public + market features) and register it as `production`."""
    from .products import train_and_register

    version = train_and_register(get_settings().var_dir, enterprises=enterprises, seed=seed)
    console.print(f"enterprise-credit-score version {version} registered as production")


@national_app.command("deliver")
def national_deliver() -> None:
    """Queue every granted loan not yet reported, then send what is due to the configured node."""
    from .national import deliver_due, endpoint, enqueue_granted
    from .services import build_services

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
