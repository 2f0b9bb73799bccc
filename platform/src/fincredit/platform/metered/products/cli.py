"""``fincredit products train-score`` registers the platform's enterprise credit score in MLflow."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from fincredit.platform.core.settings import get_settings

products_app = typer.Typer(help="Metered market products (G§14).", no_args_is_help=True)
console = Console()


@products_app.command("train-score")
def train_score(
    enterprises: Annotated[int, typer.Option(help="synthetic enterprises to train on")] = 5000,
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """Train the enterprise credit score (public + market features) and register it as `production`."""
    from fincredit.platform.metered.products import train_and_register

    version = train_and_register(get_settings().var_dir, enterprises=enterprises, seed=seed)
    console.print(f"enterprise-credit-score version {version} registered as production")
